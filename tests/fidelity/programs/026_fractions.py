from fractions import Fraction

a = Fraction(1, 3)
b = Fraction("2/5")
print(a + b, a * b, a / b, a - b, a ** 2)
print(Fraction(0.75), Fraction("1.125"), Fraction(3.5).limit_denominator())
print(sum(Fraction(1, n) for n in range(1, 6)))
print(float(Fraction(22, 7)), Fraction(22, 7).numerator, Fraction(22, 7).denominator)
print(sorted([Fraction(2, 3), Fraction(1, 2), Fraction(5, 8)]))
print(Fraction(355, 113) > 3, round(Fraction(7, 2)), Fraction(10, 4))
