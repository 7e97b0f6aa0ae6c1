class Polynomial:
    def __init__(self, *coeffs):
        self.coeffs = coeffs

    def __call__(self, x):
        return sum(c * x ** i for i, c in enumerate(self.coeffs))

    def __repr__(self):
        terms = [f"{c}x^{i}" if i else str(c) for i, c in enumerate(self.coeffs) if c]
        return " + ".join(reversed(terms)) or "0"

    def derivative(self):
        return Polynomial(*(i * c for i, c in enumerate(self.coeffs) if i))


p = Polynomial(1, -3, 2)
print(p, [p(x) for x in range(5)], p.derivative(), p.derivative()(2))


class Accumulator:
    def __init__(self):
        self.total = 0

    def __call__(self, n):
        self.total += n
        return self.total


acc = Accumulator()
print(list(map(acc, [1, 2, 3, 4])), acc.total, callable(acc), callable(3))
