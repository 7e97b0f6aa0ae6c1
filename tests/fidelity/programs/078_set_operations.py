python = {"ann", "bob", "cara", "dev"}
rust = {"bob", "eve", "dev"}
go = {"cara", "eve"}
print(sorted(python & rust), sorted(python | go), sorted(python - rust), sorted(python ^ rust))
print(sorted(python.intersection(rust, go)), python.isdisjoint({"zed"}), {"bob"} <= rust)
s = set()
s.add(3)
s.update([1, 2, 3])
s.discard(10)
s.remove(1)
print(sorted(s), len(s), 2 in s)
fs = frozenset([1, 2, 3])
print(fs | {4}, hash(fs) == hash(frozenset([3, 2, 1])), {fs: "ok"}[frozenset({1, 2, 3})])
words = "the cat and the hat and the bat".split()
print(sorted(set(words)), len(words) - len(set(words)))
print(sorted({x % 5 for x in range(20)}), set("aab") == {"a", "b"})
