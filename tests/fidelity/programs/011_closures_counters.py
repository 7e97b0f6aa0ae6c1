def make_counter(start=0):
    count = start

    def inc(step=1):
        nonlocal count
        count += step
        return count

    return inc


c1 = make_counter()
c2 = make_counter(10)
print(c1(), c1(), c1(5), c2(), c1())


def make_multipliers():
    return [lambda x, i=i: x * i for i in range(4)]


print([m(3) for m in make_multipliers()])


def memo(fn):
    cache = {}

    def wrapper(n):
        if n not in cache:
            cache[n] = fn(n)
        return cache[n]

    return wrapper


@memo
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


print(fib(80))
