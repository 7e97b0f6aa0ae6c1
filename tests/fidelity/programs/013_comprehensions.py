matrix = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
print([row[i] for row in matrix for i in range(len(row)) if i % 2 == 0])
print([[row[i] for row in matrix] for i in range(3)])
print({x: x ** 2 for x in range(6) if x % 2})
print({c for c in "mississippi"} == set("misp"))
print(sorted({c for c in "mississippi"}))
flat = [x for sub in matrix for x in sub]
print(flat, sum(flat))
words = ["apple", "Bob", "cat", "Dog"]
print(sorted(words, key=str.lower), [w.upper() for w in words if len(w) == 3])
pairs = [(a, b) for a in range(3) for b in range(a)]
print(pairs)
print(list(zip(*matrix)))
print(dict(zip("abc", range(3))), list(enumerate("xy", start=1)))
print(any(x > 8 for x in flat), all(x > 0 for x in flat))
