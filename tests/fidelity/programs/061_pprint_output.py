from pprint import pprint, pformat

config = {
    "database": {"host": "localhost", "port": 5432, "options": ["ssl", "pool", "retry"]},
    "features": {name: i % 2 == 0 for i, name in enumerate(["alpha", "beta", "gamma", "delta"])},
    "servers": [{"name": f"srv{i}", "load": i * 0.25} for i in range(4)],
}
print("before")
pprint(config)
print("between")
pprint(list(range(30)), width=40, compact=True)
print(pformat({"b": 2, "a": 1}))
pprint([[1, 2], [3, [4, [5, [6]]]]], depth=2)
print("after")
