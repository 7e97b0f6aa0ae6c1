from dataclasses import dataclass


@dataclass
class Point:
    x: int
    y: int


def describe(obj):
    match obj:
        case 0:
            return "zero"
        case int(n) if n < 0:
            return f"negative {n}"
        case int() | float():
            return "number"
        case "quit" | "exit":
            return "command"
        case [x, y]:
            return f"pair {x},{y}"
        case [first, *rest]:
            return f"list starting {first} (+{len(rest)})"
        case {"type": "user", "name": name}:
            return f"user {name}"
        case Point(x=0, y=0):
            return "origin"
        case Point(x=x, y=0):
            return f"on x-axis at {x}"
        case Point(x, y):
            return f"point {x},{y}"
        case _:
            return "unknown"


for value in [0, -4, 3.5, "quit", [1, 2], [1, 2, 3], {"type": "user", "name": "ann"},
              Point(0, 0), Point(5, 0), Point(2, 3), None]:
    print(describe(value))
