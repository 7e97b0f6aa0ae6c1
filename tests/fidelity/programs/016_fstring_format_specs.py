pi = 3.141592653589793
n = 1234567.891
print(f"{pi:.3f} {pi:10.2f}| {pi:<10.1f}| {pi:^10.4f}|")
print(f"{n:,.2f} {n:_.1f} {n:e} {n:.3g}")
print(f"{42:08b} {255:x} {255:#X} {8:o} {65:c}")
print(f"{0.256:.1%} {-5:+d} {5:+d} {1000000:,}")
name, width = "envloop", 12
print(f"[{name:>{width}}] [{name:*^{width}}] [{name!r}]")
print(f"{'left':<8}|{'right':>8}|")
items = [("apple", 1.5, 3), ("kiwi", 0.25, 12)]
for item, price, qty in items:
    print(f"{item:<10}{price:>6.2f}{qty:>4}{price * qty:>8.2f}")
x = 10
print(f"{x=}, {x * 2 = }")
print(f"{{literal}} {3 + 4}")
