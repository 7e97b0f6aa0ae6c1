class Tally:
    def __init__(self):
        self.total = 0
        self.items = []
        self.by_key = {}

    def add(self, key, n):
        self.total += n
        self.items += [key]
        self.by_key[key] = self.by_key.get(key, 0)
        self.by_key[key] += n


t = Tally()
for k, n in [("a", 3), ("b", 4), ("a", 5)]:
    t.add(k, n)
print(t.total, t.items, t.by_key)
counts = {}
for w in "to be or not to be".split():
    counts.setdefault(w, 0)
    counts[w] += 1
print(counts)
grid = [[0] * 3 for _ in range(3)]
for i in range(3):
    grid[i][i] += 5
    grid[i][2 - i] -= 1
print(grid)
x = 10
x -= 3
x *= 4
x //= 3
x **= 2
x %= 50
x <<= 2
x |= 1
x ^= 3
print(x)
s = "ab"
s += "cd"
s *= 2
print(s)
nums = [1, 2]
nums *= 3
nums += (9,)
print(nums)
