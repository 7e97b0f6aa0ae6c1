"""The resume-fidelity suite's program: three blocks over 100+ names of every kind a resume must keep.

``DEFINE`` makes the names, ``MUTATE`` changes them through closures, aliases,
class attributes, the random generator ..., and ``CHECK`` prints one line per
fact (value, type, behaviour when called, identity between names). The test
runs the blocks as three separate ``envloop run`` processes and compares what
CHECK prints with the same three blocks run as ONE plain CPython script.
"""

DEFINE = r'''
import math
import json
import random
from collections import Counter, OrderedDict, defaultdict, deque, namedtuple
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from functools import lru_cache, wraps
import re

i_small = 42
i_neg = -7
i_big = 2 ** 100
f_pi = 3.14159
f_inf = float("inf")
c_num = complex(1, -2)
s_text = "héllo"
s_long = "x" * 300
b_data = b"\x00\x01bytes"
ba_data = bytearray(b"mutable")
t_none = None
t_bool = True
l_nums = [1, 2, 3]
l_nested = [[1, 2], [3, [4, 5]]]
tup = (1, "a", None)
tup_nested = ((1, 2), (3, 4))
d_plain = {"a": 1, "b": [1, 2]}
d_int_keys = {1: "one", 2: "two"}
st = {3, 1, 2}
fst = frozenset({"x", "y"})
dq = deque([1, 2, 3], maxlen=5)
ctr = Counter("abracadabra")
od = OrderedDict([("z", 1), ("a", 2)])
dd = defaultdict(list)
dd["k"].append(1)
day = date(2024, 2, 29)
moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
span = timedelta(days=2, seconds=5)
money = Decimal("12.50")
third = Fraction(1, 3)
pattern = re.compile(r"\d+", re.I)
rng = range(2, 20, 3)

Point = namedtuple("Point", "x y")
pt = Point(1, 2)

class Color(Enum):
    RED = 1
    GREEN = 2

fav = Color.GREEN

@dataclass
class Item:
    name: str
    qty: int = 1
    tags: list = field(default_factory=list)

item = Item("apple", 3)

class Animal:
    count = 0
    registry = []
    def __init__(self, name):
        self.name = name
        Animal.count += 1
    def speak(self):
        return "..."
    @classmethod
    def reg(cls, x):
        cls.registry.append(x)
        return len(cls.registry)
    @staticmethod
    def kind():
        return "animal"
    @property
    def shout(self):
        return self.name.upper()

class Dog(Animal):
    def speak(self):
        return "woof from " + self.name + " " + super().speak()

rex = Dog("rex")
pets = [rex, Dog("fido")]

class Slotted:
    __slots__ = ("a", "b")
    def __init__(self, a):
        self.a = a

slot = Slotted(5)

class K:
    n = 0
    def f(self):
        return "orig"

def plain(x, y=10):
    return x + y

def with_kw(*, scale=2):
    return scale * 3

def mutable_default(x, acc=[]):
    acc.append(x)
    return list(acc)

def mk_counter():
    n = 0
    def tick():
        nonlocal n
        n += 1
        return n
    return tick

counter = mk_counter()
counter(); counter(); counter()

def mk_pair():
    v = [0]
    def get():
        return v[0]
    def put(x):
        v[0] = x
    return get, put

getter, putter = mk_pair()

def make_adder(k):
    return lambda x: x + k

k_global = 1
add5 = make_adder(5)
use_global = lambda: k_global * 2

def outer_rec():
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)
    return fact

fact = outer_rec()

def base():
    return "base-1"

def deco(fn):
    @wraps(fn)
    def wrapper(*args):
        return "wrapped:" + fn(*args)
    return wrapper

decorated = deco(base)

@deco
def greet(name="you"):
    "Say hello."
    return "hi " + name

@lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

fib(15)

def gen_fn(n):
    for i in range(n):
        yield i * i

def with_attr():
    return with_attr.calls

with_attr.calls = 0

ops = {"add": plain, "mul": lambda a, b: a * b}
errors = []
errors.append(ValueError)
handlers = [len, sorted]
classes = [Animal, Dog, Item]
fn_list = [counter, add5]

shared = [1, 2]
alias = shared
holder = {"inner": shared}
row = {"id": 1}
rows = [row, {"id": 2}]
same_dog = rex
twin_a = twin_b = {"t": 1}
cyc = [1]
cyc.append(cyc)
big_shared = "s" * 5000
names_big = [big_shared, big_shared]
other_big = big_shared
same_fn = counter
creations = []
creations.append("made")
zombie = 1; zf = lambda: 2
sqrt_ref = math.sqrt
lib_refs = {"dumps": json.dumps, "od": OrderedDict, "err": json.JSONDecodeError}
upper = str.upper
import typing

def annotated(x: int, item: Item) -> str:
    return str(x)

bag = []
bag_push = bag.append
rex_speak = rex.speak
make_item = Animal.reg
random.seed(1234)
first_draw = random.random()
gen = random.Random(99)
gen.random()
'''

MUTATE = r'''
counter()
bag_push("one")
putter(42)
alias.append(3)
row["id"] = 100
same_dog.name = "rexy"
twin_b["t"] = 2
K.n = 5
K.f = lambda self: "patched"
K.extra = [1]
Animal.reg("late")
Dog("spot")
item.tags.append("fresh")
mutable_default(1)
mutable_default(2)
with_attr.calls += 1
ops["sub"] = lambda a, b: a - b
errors.append(KeyError)
k_global = 1000
def base():
    return "base-2"
del zombie
dd["k"].append(2)
ctr["z"] += 1
dq.append(4)
ba_data.extend(b"!")
st.add(9)
second_draw = random.random()
gen_draw = gen.random()
'''

CHECK = r'''
facts = []
def record_fact(label, thunk):
    try:
        facts.append(label + " = " + repr(thunk()))
    except Exception as exc:
        facts.append(label + " ! " + type(exc).__name__ + ": " + str(exc))

for label, thunk in [
    ("ints", lambda: (i_small, i_neg, i_big, type(i_big).__name__)),
    ("floats", lambda: (f_pi, f_inf, c_num)),
    ("text", lambda: (s_text, len(s_long), b_data, ba_data, t_none, t_bool)),
    ("lists", lambda: (l_nums, l_nested, tup, tup_nested)),
    ("dicts", lambda: (d_plain, d_int_keys, list(d_int_keys))),
    ("sets", lambda: (sorted(st), sorted(fst), type(fst).__name__)),
    ("collections", lambda: (dq, dq.maxlen, ctr.most_common(3), ctr["z"], od, dict(dd), dd["new"], type(dd).__name__)),
    ("dates", lambda: (day, moment, span, money, third)),
    ("pattern", lambda: (pattern.findall("a12b345"), pattern.flags & 2)),
    ("range", lambda: (rng, list(rng))),
    ("namedtuple", lambda: (pt, pt.x, type(pt).__name__, Point(3, 4), pt == (1, 2))),
    ("enum", lambda: (fav, fav is Color.GREEN, Color(1), [c.name for c in Color])),
    ("dataclass", lambda: (item, Item("pear"), item == Item("apple", 3, ["fresh"]))),
    ("animal count", lambda: (Animal.count, Animal.registry, Animal.kind(), Animal.reg("again"))),
    ("dog", lambda: (rex.speak(), rex.shout, rex.name, isinstance(rex, Animal), type(rex).__name__)),
    ("pets", lambda: ([p.name for p in pets], pets[0] is rex)),
    ("slots", lambda: (slot.a, hasattr(slot, "b"), Slotted(7).a)),
    ("K", lambda: (K.n, K().f(), K.extra)),
    ("plain", lambda: (plain(1), plain(1, 2), plain(y=1, x=2))),
    ("kw", lambda: (with_kw(), with_kw(scale=5))),
    ("mutable default", lambda: (mutable_default(3), mutable_default(4))),
    ("counter", lambda: (counter(), counter())),
    ("pair", lambda: (getter(), putter(7), getter())),
    ("adder", lambda: (add5(1), use_global())),
    ("fact", lambda: (fact(5), fact(1))),
    ("decorated", lambda: (decorated(), greet(), greet("bo"))),
    ("base", lambda: base()),
    ("fib", lambda: (fib(20), fib(10))),
    ("generator fn", lambda: list(gen_fn(4))),
    ("fn attr", lambda: (with_attr(), with_attr.calls)),
    ("ops", lambda: (sorted(ops), ops["add"](2, 3), ops["mul"](3, 4), ops["sub"](9, 1), ops["add"] is plain)),
    ("errors", lambda: (errors, errors[0] is ValueError)),
    ("handlers", lambda: (handlers[0]([1, 2]), handlers[1]([3, 1]), handlers[0] is len)),
    ("classes", lambda: (classes[0] is Animal, classes[1] is Dog, classes[2] is Item)),
    ("fn list", lambda: (fn_list[0] is counter, fn_list[1](10))),
    ("aliases", lambda: (shared, alias, alias is shared, holder["inner"] is shared)),
    ("rows", lambda: (rows, rows[0] is row)),
    ("same dog", lambda: (same_dog is rex, pets[0] is same_dog, same_dog.name)),
    ("twins", lambda: (twin_a, twin_a is twin_b)),
    ("cycle", lambda: (cyc[1] is cyc, len(cyc))),
    ("big shared", lambda: (names_big[0] is names_big[1], other_big is big_shared, len(other_big))),
    ("same fn", lambda: (same_fn is counter,)),
    ("creations", lambda: creations),
    ("zombie", lambda: zombie),
    ("zf", lambda: zf()),
    ("random", lambda: (first_draw, second_draw, random.random())),
    ("random instance", lambda: (gen_draw, gen.random())),
    ("modules", lambda: (math.sqrt(16), json.dumps({"a": 1}))),
    ("bound methods", lambda: (bag, rex_speak(), bag_push(2), bag, make_item("m"), Animal.registry[-1])),
    ("annotations", lambda: (typing.get_type_hints(annotated), annotated(3, None))),
    ("library refs", lambda: (sqrt_ref(9), lib_refs["dumps"]([1]), lib_refs["od"] is OrderedDict,
                              lib_refs["err"] is json.JSONDecodeError, upper("a"))),
]:
    record_fact(label, thunk)
for line in facts:
    print(line)
'''

#: Names DEFINE binds (the suite asserts there are at least 100 of them).
def defined_names() -> list[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(DEFINE)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return sorted(n for n in names if not n.startswith("_"))
