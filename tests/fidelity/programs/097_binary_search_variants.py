def binary_search(xs, target):
    lo, hi = 0, len(xs) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if xs[mid] == target:
            return mid
        if xs[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


def first_true(lo, hi, pred):
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


xs = list(range(0, 100, 3))
print([binary_search(xs, t) for t in (0, 33, 34, 99)])
print(first_true(0, 10 ** 6, lambda n: n * n >= 123456789))


def sqrt_approx(x, eps=1e-10):
    lo, hi = 0.0, max(1.0, x)
    while hi - lo > eps:
        mid = (lo + hi) / 2
        if mid * mid < x:
            lo = mid
        else:
            hi = mid
    return round(lo, 6)


print(sqrt_approx(2), sqrt_approx(1e6))
