class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        if not isinstance(other, Point):
            return NotImplemented
        return (self.x, self.y) == (other.x, other.y)

    def __hash__(self):
        return hash((self.x, self.y))

    def __repr__(self):
        return f"Point({self.x}, {self.y})"


pts = [Point(1, 2), Point(1, 2), Point(3, 4)]
print(len(set(pts)), pts[0] == pts[1], pts[0] != pts[2], pts[0] == (1, 2))
try:
    pts[0].z = 5
except AttributeError:
    print("no z")
lookup = {Point(0, 0): "origin"}
print(lookup[Point(0, 0)], Point(5, 5) in lookup)
