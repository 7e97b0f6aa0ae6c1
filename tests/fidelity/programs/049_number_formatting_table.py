rows = [("Revenue", 1234567.891, 0.1534), ("Costs", -98765.4321, -0.0291), ("Margin", 1135802.46, 0.92)]
header = f"{'Metric':<10}|{'Amount':>16}|{'Change':>9}"
print(header)
print("-" * len(header))
for name, amount, change in rows:
    print(f"{name:<10}|{amount:>16,.2f}|{change:>+9.1%}")
print(f"{'':=^37}")
print("{:>10}".format("end"), format(0.5, ".0%"), format(1e-7, ".2e"), format(123456789, "_d"))
print(round(2.5), round(3.5), round(-0.5), round(1.23456, 3), round(1234.5, -2))
print(int("ff", 16), hex(255), oct(8), bin(10), float("1e3"), int(3.99), int(-3.99))
print(divmod(17, 5), divmod(-17, 5), 17 // -5, -17 % 5, 2 ** -1, 7 / 2)
print(1_000_000, 0xFF, 0o17, 0b101, 1e3, 3.0 == 3, 0.1 * 3)
