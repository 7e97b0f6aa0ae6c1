a = {"x": 1, "y": 2}
b = {"y": 20, "z": 30}
print(a | b, b | a, {**a, **b})
c = dict(a)
c |= {"w": 0}
print(c, list(c.keys()), list(c.values()), list(c.items())[0])
print(a.get("q"), a.get("q", "default"), a.setdefault("k", []), a)
print(a.pop("k"), a.pop("nope", None), "x" in a, len(a))
inv = {v: k for k, v in b.items()}
print(inv, dict.fromkeys("abc", 0), sorted(b, key=b.get, reverse=True))
nested = {"a": {"b": {"c": 42}}}
print(nested["a"]["b"]["c"], nested.get("a", {}).get("x", {}).get("c"))
d = {}
d.update(one=1, two=2)
d.update([("three", 3)])
print(d, d.popitem(), list(reversed(d)))
counts = {}
for ch in "hello world":
    counts[ch] = counts.get(ch, 0) + 1
print(max(counts, key=counts.get), {k: v for k, v in sorted(counts.items()) if v > 1})
