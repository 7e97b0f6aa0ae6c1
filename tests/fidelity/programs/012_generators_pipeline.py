def read_lines(text):
    for line in text.splitlines():
        yield line.strip()


def non_empty(lines):
    return (l for l in lines if l)


def parse(lines):
    for l in lines:
        name, _, value = l.partition("=")
        yield name.strip(), int(value)


def running_total(pairs):
    total = 0
    for name, value in pairs:
        total += value
        yield name, total


src = """
a = 1
b = 20

c = 300
"""
for name, total in running_total(parse(non_empty(read_lines(src)))):
    print(name, total)


def countdown(n):
    while n > 0:
        yield n
        n -= 1
    return "done"


g = countdown(3)
print(list(g))


def delegator():
    result = yield from countdown(2)
    yield result


print(list(delegator()))
squares = (i * i for i in range(10))
print(sum(squares), next(iter(range(5, 9))))
