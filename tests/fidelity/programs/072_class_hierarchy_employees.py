class Employee:
    raise_pct = 0.03
    count = 0

    def __init__(self, first, last, pay):
        self.first = first
        self.last = last
        self.pay = pay
        Employee.count += 1

    @property
    def email(self):
        return f"{self.first}.{self.last}@corp.com".lower()

    @property
    def fullname(self):
        return f"{self.first} {self.last}"

    def apply_raise(self):
        self.pay = int(self.pay * (1 + self.raise_pct))

    def __str__(self):
        return f"{self.fullname} ({type(self).__name__}) ${self.pay:,}"


class Developer(Employee):
    raise_pct = 0.10

    def __init__(self, first, last, pay, lang):
        super().__init__(first, last, pay)
        self.lang = lang


class Manager(Employee):
    def __init__(self, first, last, pay, reports=None):
        super().__init__(first, last, pay)
        self.reports = list(reports or [])

    def add(self, emp):
        if emp not in self.reports:
            self.reports.append(emp)

    def __str__(self):
        return super().__str__() + f" manages {len(self.reports)}"


d1 = Developer("Ada", "Lovelace", 90000, "python")
d2 = Developer("Alan", "Turing", 95000, "c")
m = Manager("Grace", "Hopper", 120000, [d1])
m.add(d2)
m.add(d1)
for e in (d1, d2, m):
    e.apply_raise()
    print(e, e.email)
print(Employee.count, [r.lang for r in m.reports], isinstance(m, Employee))
