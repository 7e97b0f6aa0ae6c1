from dataclasses import dataclass, field, InitVar
from typing import List


@dataclass
class Order:
    items: List[str]
    prices: List[float]
    discount: InitVar[float] = 0.0
    total: float = field(init=False)
    id: int = field(default=0, repr=False)

    def __post_init__(self, discount):
        if len(self.items) != len(self.prices):
            raise ValueError("items and prices differ in length")
        self.total = round(sum(self.prices) * (1 - discount), 2)


@dataclass(kw_only=True)
class Config:
    name: str
    retries: int = 3
    verbose: bool = False


o = Order(["a", "b"], [10.0, 5.5], discount=0.1)
print(o, o.total, o.id)
try:
    Order(["a"], [])
except ValueError as e:
    print("error:", e)
c = Config(name="svc", verbose=True)
print(c, Config(name="x") == Config(name="x", retries=3))
