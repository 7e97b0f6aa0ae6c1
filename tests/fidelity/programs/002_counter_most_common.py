from collections import Counter

words = "apple banana apple cherry banana apple date".split()
c = Counter(words)
print(c.most_common(2))
c.update(["date", "date"])
print(c["date"], c["missing"])
print(sorted(c.elements())[:5])
print(c + Counter(apple=1), c - Counter(apple=10))
print(sum(c.values()), len(c))
