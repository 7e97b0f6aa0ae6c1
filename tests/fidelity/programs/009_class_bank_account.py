class InsufficientFunds(Exception):
    pass


class Account:
    interest = 0.02

    def __init__(self, owner, balance=0):
        self.owner = owner
        self._balance = balance
        self.history = []

    @property
    def balance(self):
        return self._balance

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self._balance += amount
        self.history.append(("deposit", amount))

    def withdraw(self, amount):
        if amount > self._balance:
            raise InsufficientFunds(f"{self.owner} has only {self._balance}")
        self._balance -= amount
        self.history.append(("withdraw", amount))

    def __repr__(self):
        return f"Account({self.owner!r}, {self._balance})"


acct = Account("ann", 100)
acct.deposit(50)
acct.withdraw(30)
try:
    acct.withdraw(1000)
except InsufficientFunds as e:
    print("error:", e)
try:
    acct.deposit(-5)
except ValueError as e:
    print("error:", e)
print(acct, acct.balance, acct.history)
print(Account.interest, type(acct).__name__)
