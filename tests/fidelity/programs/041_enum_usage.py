from enum import Enum, IntEnum, Flag, auto


class Color(Enum):
    RED = 1
    GREEN = 2
    BLUE = 3


class Priority(IntEnum):
    LOW = 1
    HIGH = 3


class Perm(Flag):
    READ = auto()
    WRITE = auto()
    EXEC = auto()


print(Color.RED, Color.RED.name, Color.RED.value, Color(2), Color["BLUE"])
print(list(Color), len(Color), Color.GREEN in Color)
print(Priority.HIGH > Priority.LOW, Priority.HIGH + 1, sorted([Priority.HIGH, Priority.LOW]))
rw = Perm.READ | Perm.WRITE
print(rw, Perm.READ in rw, Perm.EXEC in rw, bool(rw & Perm.EXEC))
for c in Color:
    print(c.name.lower(), end=" ")
print()
print({Color.RED: "stop"}[Color.RED], Color.RED is Color(1), repr(Color.BLUE))


class Status(Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"

    def label(self):
        return self.value.upper()


print(Status("active").label(), [s.value for s in Status])
