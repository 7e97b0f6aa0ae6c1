def averager():
    total, count, avg = 0, 0, None
    while True:
        value = yield avg
        if value is None:
            break
        total += value
        count += 1
        avg = total / count
    return avg


g = averager()
next(g)
for v in [10, 20, 30, 40]:
    print(g.send(v))
try:
    g.send(None)
except StopIteration as e:
    print("final", e.value)


def fib_gen():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b


from itertools import islice

print(list(islice(fib_gen(), 15)))


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


print(list(chunks("abcdefghij", 3)), [list(c) for c in chunks(list(range(5)), 2)])
