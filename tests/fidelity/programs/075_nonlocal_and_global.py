counter = 0


def bump():
    global counter
    counter += 1
    return counter


for _ in range(3):
    bump()
print(counter)


def outer():
    log = []
    state = "init"

    def set_state(s):
        nonlocal state
        log.append((state, s))
        state = s

    set_state("running")
    set_state("done")
    return state, log


print(outer())


def make_account(balance):
    def deposit(n):
        nonlocal balance
        balance += n
        return balance

    def withdraw(n):
        nonlocal balance
        if n > balance:
            return "insufficient"
        balance -= n
        return balance

    return deposit, withdraw


dep, wd = make_account(100)
print(dep(50), wd(500), wd(25))
