import datetime

print("{} + {} = {}".format(1, 2, 3))
print("{0}{1}{0}".format("ab", "cd"))
print("{name} is {age} years".format(name="Ann", age=30))
print("{:>8}|{:<8}|{:^8}".format("a", "b", "c"))
print("{:.2f} {:,} {:08.3f}".format(2.71828, 1234567, 3.14159))
point = {"x": 1, "y": 2}
print("({x}, {y})".format(**point))
print("{p[x]}-{p[y]}".format(p=point))
print("{0[1]} {0[0]}".format(["first", "second"]))
print("Hello, {name}!".format_map({"name": "world"}))
template = "{greeting}, {0}"
print(template.format("Bob", greeting="Hi"))
print("{!r} {!s}".format("x", "y"))
print("%s has %d items costing %.2f" % ("cart", 3, 9.5))
print("%(a)s-%(b)05d" % {"a": "id", "b": 42})
print("{:%Y-%m-%d %H:%M}".format(datetime.datetime(2024, 3, 9, 14, 5)))
