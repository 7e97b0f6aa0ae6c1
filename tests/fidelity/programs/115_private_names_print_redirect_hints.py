# Harmless Python the sandbox used to refuse: module-level _names, rebinding print,
# contextlib.redirect_stdout, typing.get_type_hints, make_dataclass, stat, hasattr, dunder reads.
import contextlib
import dataclasses
import functools
import io
import stat
import typing

_cache = {}


def _fib(n):
    if n in _cache:
        return _cache[n]
    _cache[n] = n if n < 2 else _fib(n - 1) + _fib(n - 2)
    return _cache[n]


print(_fib(30), len(_cache))

log = []
_real_print = print


def print(*args, **kwargs):  # noqa: A001 - shadowing on purpose
    log.append(" ".join(map(str, args)))


print("into the log")
del print
print("logged:", log)
printed = "a name like any other"
print(printed)

buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    print("captured", 1, 2)
    with contextlib.redirect_stdout(io.StringIO()) as inner:
        print("inner")
    print("outer again")
print(repr(buf.getvalue()), repr(inner.getvalue()))
with contextlib.redirect_stderr(io.StringIO()) as err:
    print("stderr redirect leaves print alone")
print(repr(err.getvalue()))


class Node:
    value: int
    children: "list[Node]"
    label: typing.Optional["str"] = None


def area(w: float, h: "float") -> "float":
    """The area."""
    return w * h


print(typing.get_type_hints(area))
print(typing.get_type_hints(Node))
print(area.__doc__, area.__name__, area.__qualname__, area.__annotations__)

Point = dataclasses.make_dataclass("Point", [("x", int), ("y", int, dataclasses.field(default=0))],
                                   namespace={"norm1": lambda self: abs(self.x) + abs(self.y)})
p = Point(3, -4)
print(p, p.norm1(), dataclasses.asdict(p))

print(stat.S_ISDIR(0o040755), stat.S_ISREG(0o100644), stat.filemode(0o100644))


class Holder:
    def __init__(self):
        self._secret = 1


print(hasattr(Holder(), "_secret"), hasattr([], "__len__"), hasattr(1, "nope"), hasattr(area, "__doc__"))
print([c.__name__ for c in bool.__mro__])


@functools.wraps(area)
def wrapper(*args):
    return area(*args)


print(wrapper.__wrapped__ is area, wrapper.__name__)
try:
    try:
        {}["k"]
    except KeyError as exc:
        raise ValueError("converted") from exc
except ValueError as exc:
    print(type(exc.__cause__).__name__, type(exc.__context__).__name__)
