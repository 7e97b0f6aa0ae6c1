from decimal import Decimal, ROUND_HALF_UP, localcontext, getcontext

getcontext().prec = 28
prices = [Decimal("19.99"), Decimal("5.01"), Decimal("0.10")]
subtotal = sum(prices)
tax = (subtotal * Decimal("0.0825")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
print(subtotal, tax, subtotal + tax)
print(Decimal("0.1") + Decimal("0.2") == Decimal("0.3"), 0.1 + 0.2 == 0.3)
print(Decimal(1) / Decimal(7))
with localcontext() as ctx:
    ctx.prec = 5
    print(Decimal(1) / Decimal(7))
print(Decimal("2.675").quantize(Decimal("0.01")), round(Decimal("2.675"), 2))
print(Decimal("1.20").normalize(), Decimal("-3.5").copy_abs(), Decimal("10").sqrt())
print(f"{Decimal('1234.5'):,.2f}", Decimal("3.14159").as_tuple().exponent)
