import math


class Vector:
    def __init__(self, *components):
        self.components = tuple(components)

    def __repr__(self):
        return f"Vector{self.components}"

    def __str__(self):
        return "<" + ", ".join(str(c) for c in self.components) + ">"

    def __len__(self):
        return len(self.components)

    def __iter__(self):
        return iter(self.components)

    def __getitem__(self, i):
        return self.components[i]

    def __add__(self, other):
        return Vector(*(a + b for a, b in zip(self, other)))

    def __sub__(self, other):
        return Vector(*(a - b for a, b in zip(self, other)))

    def __mul__(self, k):
        return Vector(*(a * k for a in self))

    __rmul__ = __mul__

    def __eq__(self, other):
        return isinstance(other, Vector) and self.components == other.components

    def __hash__(self):
        return hash(self.components)

    def __abs__(self):
        return math.sqrt(sum(a * a for a in self))

    def __bool__(self):
        return any(self.components)

    def __lt__(self, other):
        return abs(self) < abs(other)


v, w = Vector(1, 2), Vector(3, 4)
print(v + w, w - v, v * 3, 2 * v, abs(w), len(v), v[1])
print(repr(v), v == Vector(1, 2), bool(Vector(0, 0)), {v, Vector(1, 2)})
print(sorted([w, v]), list(v), max(v, w))
