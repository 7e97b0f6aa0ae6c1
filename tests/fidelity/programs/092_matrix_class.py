class Matrix:
    def __init__(self, rows):
        self.rows = [list(r) for r in rows]
        self.shape = (len(self.rows), len(self.rows[0]) if self.rows else 0)

    def __getitem__(self, idx):
        r, c = idx
        return self.rows[r][c]

    def __setitem__(self, idx, value):
        r, c = idx
        self.rows[r][c] = value

    def __matmul__(self, other):
        cols = list(zip(*other.rows))
        return Matrix([[sum(a * b for a, b in zip(row, col)) for col in cols] for row in self.rows])

    def __add__(self, other):
        return Matrix([[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(self.rows, other.rows)])

    def __eq__(self, other):
        return self.rows == other.rows

    def __repr__(self):
        width = max(len(str(v)) for row in self.rows for v in row)
        return "\n".join(" ".join(str(v).rjust(width) for v in row) for row in self.rows)

    @property
    def T(self):
        return Matrix(zip(*self.rows))


m = Matrix([[1, 2, 3], [4, 5, 6]])
print(m.shape, m[1, 2])
m[0, 0] = 10
print(m)
print(m @ m.T)
print(m + m == Matrix([[20, 4, 6], [8, 10, 12]]), m.T.shape)
