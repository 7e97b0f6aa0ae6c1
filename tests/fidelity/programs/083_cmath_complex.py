import cmath

z = complex(3, 4)
print(z, abs(z), z.real, z.imag, z.conjugate(), z * 1j)
print(cmath.sqrt(-1), cmath.polar(z), cmath.phase(-1))
r, phi = cmath.polar(z)
w = cmath.rect(r, phi)
print(round(w.real, 10), round(w.imag, 10))
roots = [cmath.exp(2j * cmath.pi * k / 4) for k in range(4)]
print([complex(round(c.real, 10), round(c.imag, 10)) for c in roots])


def solve_quadratic(a, b, c):
    d = cmath.sqrt(b * b - 4 * a * c)
    return (-b + d) / (2 * a), (-b - d) / (2 * a)


print(solve_quadratic(1, 2, 5), solve_quadratic(1, -3, 2))
