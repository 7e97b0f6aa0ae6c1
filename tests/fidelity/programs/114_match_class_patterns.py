# Class patterns with positional sub-patterns: dataclasses, namedtuples, __match_args__, builtins.
import collections
import typing
from dataclasses import dataclass


@dataclass
class Point:
    x: int
    y: int


class Pair:
    __match_args__ = ("left", "right")

    def __init__(self, left, right):
        self.left, self.right = left, right


Vec = collections.namedtuple("Vec", "dx dy")


class Item(typing.NamedTuple):
    name: str
    qty: int = 1


class MyInt(int):
    pass


def where(p):
    match p:
        case Point(0, 0):
            return "origin"
        case Point(x, 0):
            return f"on x at {x}"
        case Point(x=0, y=y):
            return f"on y at {y}"
        case Pair(Point(a, b), right=r):
            return f"pair from {a},{b} to {r}"
        case Vec(dx, dy) if dx == dy:
            return f"diagonal {dx}"
        case Item(name, qty=q):
            return f"{q} x {name}"
        case MyInt(n):
            return f"my int {n}"
        case bool(b):
            return f"bool {b}"
        case int(n) if n > 5:
            return f"big {n}"
        case int(n) | float(n):
            return f"number {n}"
        case str() | bytes():
            return "text"
        case [Point(a, b), *rest]:
            return f"list starting at {a},{b} then {rest}"
        case {"k": Point(a, _)}:
            return f"mapping with x={a}"
        case _:
            return "something else"


values = [Point(0, 0), Point(3, 0), Point(0, 4), Pair(Point(1, 2), 9), Vec(2, 2), Item("pen", 3),
          MyInt(4), True, 7, 2, 2.5, "s", b"b", [Point(1, 2), 3], {"k": Point(9, 9)}, None]
for value in values:
    print(where(value))

try:
    match Point(1, 2):
        case Point(a, b, c):
            pass
except TypeError as exc:
    print("TypeError:", exc)

for _ in range(3):
    match Vec(1, 2):
        case Vec(a, b):
            print("loop", a + b)
print(Point.__match_args__, Vec.__match_args__, Pair.__mro__[0].__name__)
