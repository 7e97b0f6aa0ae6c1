from decimal import Decimal, ROUND_HALF_EVEN
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Txn:
    when: date
    description: str
    amount: Decimal


@dataclass
class Ledger:
    owner: str
    txns: list = field(default_factory=list)

    def add(self, when, description, amount):
        self.txns.append(Txn(when, description, Decimal(amount)))

    def balance(self, until=None):
        return sum((t.amount for t in self.txns if until is None or t.when <= until), Decimal("0"))

    def monthly(self):
        out = {}
        for t in self.txns:
            key = t.when.strftime("%Y-%m")
            out[key] = out.get(key, Decimal("0")) + t.amount
        return out


led = Ledger("ann")
led.add(date(2024, 1, 3), "salary", "3000.00")
led.add(date(2024, 1, 15), "rent", "-1200.50")
led.add(date(2024, 2, 1), "groceries", "-234.99")
led.add(date(2024, 2, 20), "refund", "19.99")
print(led.balance(), led.balance(date(2024, 1, 31)))
for month, total in sorted(led.monthly().items()):
    print(month, f"{total:>10}")
interest = (led.balance() * Decimal("0.0125")).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
print("interest", interest, len(led.txns))
