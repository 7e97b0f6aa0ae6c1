from dataclasses import dataclass, field, asdict, astuple, replace, fields


@dataclass
class Item:
    name: str
    price: float
    qty: int = 0
    tags: list = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.price * self.qty


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int = 0


items = [Item("pen", 1.5, 10), Item("book", 12.0, 2, ["paper"]), Item("bag", 30.0)]
for it in items:
    print(it, it.total)
print(asdict(items[1]), astuple(items[0]))
print(replace(items[2], qty=3).total)
print([f.name for f in fields(Item)])
print(sorted([Version(1, 2), Version(1), Version(0, 9)]))
v = Version(2)
try:
    v.major = 3
except Exception as e:
    print(type(e).__name__)
print(Item("a", 1.0) == Item("a", 1.0), hash(Version(1, 1)) == hash(Version(1, 1)))
