import math
from array import array

a = array("d", [1.5, 2.5, 3.5])
a.append(4.5)
print(a, a.typecode, a.itemsize, sum(a), a.tolist())
ints = array("i", range(5))
print(ints[1:3], ints.index(3), len(ints))
print(math.sqrt(2), math.pi, math.e, math.tau)
print(math.floor(-2.5), math.ceil(2.1), math.trunc(-2.7), math.fabs(-3))
print(math.gcd(48, 36), math.lcm(4, 6), math.factorial(10), math.comb(10, 3), math.perm(5, 2))
print(math.isclose(0.1 + 0.2, 0.3), math.isqrt(99), math.log(math.e), math.log10(1000), math.log2(8))
print(round(math.sin(math.pi / 6), 10), round(math.degrees(math.atan2(1, 1)), 6), math.radians(180))
print(math.hypot(3, 4), math.dist((0, 0), (6, 8)), math.prod([1, 2, 3, 4]), math.fsum([0.1] * 10))
print(math.inf > 10 ** 100, math.isnan(math.nan), math.copysign(1, -0.0), divmod(7.5, 2))
