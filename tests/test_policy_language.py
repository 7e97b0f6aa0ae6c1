"""The language the policy accepts: the idioms models write every day behave as in CPython.

Each snippet runs twice, in plain CPython (``exec`` with real builtins) and in a
fresh Interpreter, and must print the same thing.
"""

from __future__ import annotations

import contextlib
import io
import textwrap

import pytest

from envloop.sandbox.interpreter import Interpreter

SNIPPETS: dict[str, str] = {
    "augmented_item_and_attribute": """
        counts = {}
        for w in "a b a c a".split():
            counts[w] = counts.get(w, 0)
            counts[w] += 1
        class Acc:
            def __init__(self):
                self.total = 0
            def add(self, n):
                self.total += n
                return self
        grid = [[0] * 3 for _ in range(2)]
        grid[1][2] += 5
        grid[0][0:2] += []
        s = "ab"
        s += "cd"
        xs = [1]
        alias = xs
        xs += [2]
        print(counts, Acc().add(3).add(4).total, grid, s, alias)
    """,
    "annotations_and_dataclasses": """
        from dataclasses import dataclass, field, asdict
        limit: int = 10
        @dataclass(order=True)
        class Item:
            name: str
            price: float = 0.0
            tags: list = field(default_factory=list)
            def __post_init__(self):
                self.name = self.name.title()
        @dataclass(frozen=True)
        class Point:
            x: int
            y: int
        items = sorted([Item("pear", 2.5), Item("apple", 1.0, ["red"])])
        print(items, asdict(items[0]), limit, Point(1, 2))
    """,
    "super_and_inheritance": """
        class Base:
            def __init__(self, name):
                self.name = name
            def describe(self):
                return f"{type(self).__name__}({self.name})"
        class Child(Base):
            def __init__(self, name, age):
                super().__init__(name)
                self.age = age
            def describe(self):
                return super().describe() + f" age={self.age}"
        class MyError(ValueError):
            def __init__(self, code):
                super().__init__(f"code {code}")
                self.code = code
        try:
            raise MyError(7)
        except ValueError as e:
            print(Child("ann", 3).describe(), e, e.code, type(e).__name__)
    """,
    "data_model_methods": """
        class Vec:
            def __init__(self, *c):
                self.c = c
            def __repr__(self):
                return f"Vec{self.c}"
            def __str__(self):
                return "<" + ", ".join(map(str, self.c)) + ">"
            def __len__(self):
                return len(self.c)
            def __iter__(self):
                return iter(self.c)
            def __getitem__(self, i):
                return self.c[i]
            def __contains__(self, v):
                return v in self.c
            def __eq__(self, other):
                return isinstance(other, Vec) and self.c == other.c
            def __lt__(self, other):
                return self.c < other.c
            def __hash__(self):
                return hash(self.c)
            def __bool__(self):
                return any(self.c)
            def __add__(self, other):
                return Vec(*(a + b for a, b in zip(self, other)))
            def __mul__(self, k):
                return Vec(*(a * k for a in self))
            __rmul__ = __mul__
            def __neg__(self):
                return self * -1
            def __call__(self, i):
                return self.c[i]
        class Ctx:
            def __enter__(self):
                print("enter")
                return self
            def __exit__(self, *exc):
                print("exit", exc[0].__name__ if exc[0] else None)
                return True
        v = Vec(1, 2)
        with Ctx():
            raise KeyError("swallowed")
        print(repr(v), str(v), len(v), list(v), v[1], 2 in v, v == Vec(1, 2), v < Vec(2, 0))
        print({v: 1}[Vec(1, 2)], bool(Vec(0, 0)), v + v, 3 * v, -v, v(0), sorted([Vec(3), Vec(1)]))
    """,
    "private_attributes_on_own_classes": """
        class Account:
            _instances = 0
            def __init__(self, balance):
                self._balance = balance
                self.__pin = 1234
                Account._instances += 1
            @property
            def balance(self):
                return self._balance
            def _fee(self):
                return 1
            def withdraw(self, n):
                self._balance -= n + self._fee()
                return self.__pin
            @classmethod
            def count(cls):
                return cls._instances
            def __eq__(self, other):
                return self._balance == other._balance
        a = Account(10)
        pin = a.withdraw(3)
        print(a.balance, a._balance, pin, Account.count(), a == Account(6), getattr(a, "_balance"))
        setattr(a, "_balance", 99)
        print(a.balance, hasattr(a, "_missing"))
    """,
    "namedtuple_api": """
        from collections import namedtuple
        from typing import NamedTuple
        P = namedtuple("P", "x y")
        class Q(NamedTuple):
            a: int
            b: str = "z"
        p = P(1, 2)
        print(p._replace(x=5), p._asdict(), P._fields, P._make([3, 4]), Q(1)._replace(b="y"), Q._fields)
    """,
    "nonlocal_closures_generators": """
        def counter():
            n = 0
            def inc():
                nonlocal n
                n += 1
                return n
            return inc
        c = counter()
        c(); c()
        def gen(k):
            for i in range(k):
                yield i * i
        def chain():
            yield from gen(3)
            yield "end"
        total = 0
        def bump():
            global total
            total += 10
        bump()
        print(c(), list(chain()), sum(gen(4)), total, [y for x in range(4) if (y := x * 2) > 2])
    """,
    "match_statements": """
        from dataclasses import dataclass
        @dataclass
        class Point:
            x: int
            y: int
        def where(p):
            match p:
                case Point(x=0, y=0):
                    return "origin"
                case Point(x=0, y=y):
                    return f"y-axis {y}"
                case Point(x, y) if x == y:
                    return "diagonal"
                case {"kind": "circle", "r": r, **rest}:
                    return f"circle {r} {rest}"
                case [first, *others]:
                    return f"list {first} {others}"
                case str() | bytes():
                    return "text"
                case None:
                    return "none"
                case _:
                    return "other"
        print([where(v) for v in [Point(0, 0), Point(0, 3), Point(2, 2), {"kind": "circle", "r": 1, "c": 2},
                                  [1, 2, 3], "s", None, 4.5]])
    """,
    "formatting": """
        from datetime import date, datetime
        d = date(2024, 3, 5)
        class P:
            def __init__(self):
                self.x = 3
        print("{} {:>5} {:.2f} {name}".format("a", "b", 3.14159, name="n"))
        print("{0.x} {0.x:03d} {1[k]} {1[k]!r}".format(P(), {"k": "v"}))
        print("{a}-{b}".format_map({"a": 1, "b": 2}), str.format("{}", 9), "{:%Y/%m/%d}".format(d))
        print(f"{d:%d.%m.%Y} {3.5:08.3f} {'x'!r:>6} {1234567:,}", d.strftime("%A"))
        print(datetime.strptime("2024-01-02 03:04", "%Y-%m-%d %H:%M").isoformat(), "%s=%d" % ("a", 1))
    """,
    "type_and_names": """
        class A:
            '''Doc.'''
        def f():
            pass
        print(type(3).__name__, type(A()).__name__, A.__name__, A.__qualname__, A.__doc__, f.__name__)
        print(A().__class__.__name__, isinstance(A, type), isinstance(3, type), type(type(3)) is type)
        print(type(A()) is A, A().__class__ is A)
        if __name__ == "__main__":
            print("main", __name__)
    """,
    "print_arguments": """
        print("a", "b", sep="-", end="!\\n", flush=True)
        print(*[1, 2, 3], sep=", ")
        print()
        print("no newline", end="")
        print(" then", None, sep=None, end=None)
        import io
        buf = io.StringIO()
        print("to buffer", file=buf)
        print(repr(buf.getvalue()))
    """,
    "builtins_everyday": """
        data = [("b", 2), ("a", 3), ("c", 1)]
        print(sorted(data, key=lambda kv: kv[1]), list(reversed(data)), dict(data), max(data)[0])
        print(list(zip("ab", [1, 2])), list(enumerate("xy", 1)), list(map(str.upper, "ab")), min(3, 1))
        print(list(filter(None, [0, 1, 2])), any([]), all([]), divmod(7, 2), round(2.675, 2), abs(-3))
        print(sum(range(10**6)), len(range(10**12)), bin(5), hex(255), chr(65), ord("A"), tuple("ab"))
        print(frozenset({1}), set("aa"), bytes([65]), bytearray(b"x"), complex(1, 2), int("7"), float("1e3"))
        print(isinstance(1, (int, str)), issubclass(bool, int), callable(len), next(iter([9])), repr("q"))
        print(sorted(dir([]))[-1], hasattr([], "append"), getattr(3, "real"), format(3.14159, ".1f"))
    """,
    "exceptions_and_else_finally": """
        def risky(n):
            try:
                if n == 0:
                    raise ValueError("zero")
                r = 10 / n
            except ValueError as e:
                return f"value {e}"
            except ZeroDivisionError:
                return "div"
            else:
                return r
            finally:
                print("finally", n)
        print(risky(0), risky(5))
        try:
            {}["k"]
        except LookupError as e:
            print(type(e).__name__, e.args)
        try:
            raise RuntimeError("outer") from ValueError("inner")
        except RuntimeError as e:
            print(e)
    """,
    "enums_and_abc": """
        from enum import Enum, auto
        from abc import ABC, abstractmethod
        class Color(Enum):
            RED = auto()
            GREEN = auto()
        class Shape(ABC):
            @abstractmethod
            def area(self):
                ...
        class Sq(Shape):
            def __init__(self, s):
                self.s = s
            def area(self):
                return self.s ** 2
        try:
            Shape()
        except TypeError:
            print("abstract")
        print(Color.RED, Color.GREEN.value, [c.name for c in Color], list(Color.__members__), Sq(3).area())
    """,
}


def _plain(src: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(src, "<plain>", "exec"), {"__name__": "__main__"})
    return out.getvalue()


@pytest.mark.parametrize("name", SNIPPETS)
def test_snippet_prints_what_cpython_prints(name):
    src = textwrap.dedent(SNIPPETS[name])
    result = Interpreter().run(src)
    assert result["error"] is None, result["error"]
    assert result["stdout"] == _plain(src)


def test_prints_inside_functions_land_in_the_one_block_buffer():
    src = "def f():\n    print('in f')\n    def g():\n        print('in g')\n    g()\nprint('top')\nf()"
    assert Interpreter().run(src)["stdout"] == "top\nin f\nin g\n"


def test_functions_defined_in_one_block_print_into_later_blocks():
    it = Interpreter()
    it.run("def hello(n):\n    print('hello', n)")
    assert it.run("hello(1)")["stdout"] == "hello 1\n"
    assert it.run("hello(2)")["stdout"] == "hello 2\n"


def test_print_with_a_failing_str_keeps_the_pieces_cpython_keeps():
    src = "class Bad:\n    def __str__(self):\n        raise ValueError('no')\nprint('a', 'b', Bad())"
    out = Interpreter().run(src)
    assert out["stdout"] == "a b " and out["error"]["type"] == "ValueError"


def test_print_rejects_non_string_sep_like_cpython():
    out = Interpreter().run("print('a', sep=1)")
    assert out["error"]["type"] == "TypeError"
