import re

data = [3, 8, 1, 9, 4]
if (n := len(data)) > 3:
    print(f"long list ({n} items)")
print([y for x in data if (y := x * 2) > 6])
lines = ["key=value", "bad line", "x=1"]
for line in lines:
    if m := re.match(r"(\w+)=(\w+)", line):
        print(m.group(1), "->", m.group(2))
value = 15
size = "small" if value < 10 else "medium" if value < 20 else "large"
print(size, 1 < value <= 15, not value, value and "truthy", None or "fallback")
a, b = 1, 2
a, b = b, a
print(a, b, [*range(3), *"ab"], {**{"x": 1}, "y": 2})


def f(a, b=2, *args, c, d=4, **kw):
    return a, b, args, c, d, kw


def g(x, /, y, *, z):
    return x + y + z


print(f(1, c=3), f(1, 5, 6, 7, c=8, e=9), g(1, y=2, z=3))
print(type(...).__name__, ... is Ellipsis, 7 if True else 8)
assert isinstance(value, int), "value must be an int"
print("assert passed")
