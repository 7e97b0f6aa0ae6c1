# Idioms an agent executor's own test-suite checks (issue 13, item 5), in envloop's words.
import itertools
import stat
from enum import Enum


# A "done" signal that generic error handling must not swallow.
class Finished(BaseException):
    pass


def finish(value):
    raise Finished(value)


try:
    try:
        finish("first")
    except Exception:
        finish("second")
except Finished as done:
    print("finished with", done.args[0])

# Context managers: which __exit__ sees what, suppression and replacement.
log = []


class Gate:
    def __init__(self, label, swallow=False, explode=False):
        self.label, self.swallow, self.explode = label, swallow, explode

    def __enter__(self):
        log.append(("enter", self.label))
        return "not the gate"

    def __exit__(self, kind, value, tb):
        log.append(("exit", self.label, kind.__name__ if kind else None))
        if self.explode:
            raise LookupError("raised by " + self.label)
        return self.swallow


with Gate("outer"), Gate("inner", swallow=True) as handle:
    raise KeyError("hidden")
print(handle, log)
log.clear()
with Gate("outer", swallow=True), Gate("inner"):
    raise ValueError("seen by both")
print(log)
log.clear()
try:
    with Gate("only", explode=True):
        raise ValueError("replaced")
except LookupError as err:
    print("replaced by:", err, "| context:", type(err.__context__).__name__)
try:
    with Gate("plain"):
        raise RuntimeError("propagates")
except RuntimeError as err:
    print("propagated:", err, log)


# In-place operators on a user class, every one of them.
class Acc:
    def __init__(self, v):
        self.v = v

    def __iadd__(self, o):
        self.v += o
        return self

    def __isub__(self, o):
        self.v -= o
        return self

    def __imul__(self, o):
        self.v *= o
        return self

    def __itruediv__(self, o):
        self.v /= o
        return self

    def __ifloordiv__(self, o):
        self.v //= o
        return self

    def __imod__(self, o):
        self.v %= o
        return self

    def __ipow__(self, o):
        self.v **= o
        return self

    def __iand__(self, o):
        self.v &= o
        return self

    def __ior__(self, o):
        self.v |= o
        return self

    def __ixor__(self, o):
        self.v ^= o
        return self

    def __irshift__(self, o):
        self.v >>= o
        return self

    def __ilshift__(self, o):
        self.v <<= o
        return self


a = Acc(13)
a += 2
a -= 1
a *= 3
a //= 4
a %= 7
a **= 3
a &= 0b111111
a |= 0b1000000
a ^= 0b11
a >>= 1
a <<= 2
a /= 8
print("accumulated", a.v)


# Annotated assignments in a class body, to names, attributes and subscripts.
class Inner:
    tag = 1


class Holder:
    inner: Inner = Inner()
    inner.tag: str = "tagged"
    table: dict = {}
    table["k"]: str = "v"
    row: list = [10, 20, 30]
    row[0:2]: list = ["a", "b"]
    pending: int


print(Holder.inner.tag, Holder.table, Holder.row, sorted(Holder.__annotations__))


class Colour(Enum):
    RED = "r"
    BLUE = "b"


print(Colour.BLUE.name, Colour("r"), [c.value for c in Colour])

# Chained and nested unpacking targets.
p, q = r, s = {7: "x", 8: "y"}
first = second = (lambda k: lambda m: k * m)(6)(7)
print(p, q, r, s, first, second)
try:
    u, v = 1, 2, 3
except ValueError as err:
    print("unpack:", err)


# ** with something that is not a mapping.
def collect(**kw):
    return kw


for bad in ([1, 2], 42, None):
    try:
        collect(**bad)
    except TypeError as err:
        print("star-star:", type(bad).__name__, "refused")

# del of names, items and slices, and what follows.
box = {"key": "value", "other": 1}
del box["key"]
seq = [0, 1, 2, 3, 4]
del seq[1], seq[1:3]
gone = 5
del gone
try:
    gone
except NameError:
    print("deleted:", box, seq)

# Rebinding print is just a name; the builtin is reachable again after del.
print = "shadowed"
try:
    print("x")
except TypeError as err:
    message = str(err)
del print
print("print rebound:", message)

# stat helpers, lazy infinite generators, nested comprehensions.
print(stat.S_ISREG(0o100644), stat.S_ISDIR(0o040755), stat.filemode(0o100644))
evens = (n for n in itertools.count() if n % 2 == 0)
print([next(evens) for _ in range(4)])
pairs = {(x, y) for x in [1, 2, 1] for y in "ab"}
print(sorted(pairs), {(x, y): f"{x}{y}" for x in [1, 2] for y in "ab"}[(2, "b")])
print(0 <= -1 < 4 and 0 <= -5 < 4, 0 <= 3 < 4 and 0 <= 3 < 4)
