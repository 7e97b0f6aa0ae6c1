from functools import reduce

people = [("Ann", 31, "NYC"), ("bob", 25, "LA"), ("Cara", 35, "NYC"), ("dave", 25, "SF")]
print(sorted(people, key=lambda p: (p[1], p[0].lower())))
print(list(map(lambda p: p[0].title(), filter(lambda p: p[2] == "NYC", people))))
ages = list(map(lambda p: p[1], people))
print(reduce(lambda a, b: a + b, ages) / len(ages), reduce(max, ages))
compose = lambda *fns: reduce(lambda f, g: lambda x: g(f(x)), fns)
pipeline = compose(str.strip, str.lower, lambda s: s.replace(" ", "_"))
print(pipeline("  Hello Big World "))
adders = {n: (lambda k: lambda x: x + k)(n) for n in range(3)}
print([adders[n](10) for n in adders])
print(sorted(["b10", "a2", "a10", "b1"], key=lambda s: (s[0], int(s[1:]))))
