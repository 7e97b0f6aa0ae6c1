class Money:
    def __init__(self, amount, currency="USD"):
        self.amount = round(amount, 2)
        self.currency = currency

    def _check(self, other):
        if self.currency != other.currency:
            raise ValueError("currency mismatch")

    def __add__(self, other):
        if other == 0:
            return self
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    __radd__ = __add__

    def __sub__(self, other):
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, k):
        return Money(self.amount * k, self.currency)

    def __truediv__(self, k):
        return Money(self.amount / k, self.currency)

    def __neg__(self):
        return Money(-self.amount, self.currency)

    def __eq__(self, other):
        if isinstance(other, Money):
            return (self.amount, self.currency) == (other.amount, other.currency)
        return NotImplemented

    def __lt__(self, other):
        self._check(other)
        return self.amount < other.amount

    def __format__(self, spec):
        return f"{self.currency} {format(self.amount, spec or '.2f')}"

    def __repr__(self):
        return f"Money({self.amount!r}, {self.currency!r})"


wallet = [Money(10.5), Money(3.25), Money(100)]
print(sum(wallet), max(wallet), sorted(wallet)[0], -wallet[0])
print(f"{sum(wallet) / 3}", f"{Money(5) * 3:,.1f}", Money(1) == Money(1.0))
try:
    Money(1) + Money(1, "EUR")
except ValueError as e:
    print("error:", e)
