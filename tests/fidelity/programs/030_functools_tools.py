from functools import reduce, partial, lru_cache, wraps, total_ordering, cache


print(reduce(lambda a, b: a * b, range(1, 8)), reduce(lambda a, b: a + b, ["a", "b", "c"], ">"))
int_from_bin = partial(int, base=2)
print(int_from_bin("1011"), partial(pow, 2)(10))


@lru_cache(maxsize=None)
def ways(n):
    if n < 0:
        return 0
    if n == 0:
        return 1
    return ways(n - 1) + ways(n - 2) + ways(n - 3)


print(ways(30), ways.cache_info().hits > 0)


@cache
def square(x):
    return x * x


print(square(12), square(12))


def logged(fn):
    @wraps(fn)
    def inner(*args, **kwargs):
        print("calling", fn.__name__, args)
        return fn(*args, **kwargs)
    return inner


@logged
def add(a, b):
    """Add two numbers."""
    return a + b


print(add(2, 3), add.__name__, add.__doc__)


@total_ordering
class Money:
    def __init__(self, cents):
        self.cents = cents

    def __eq__(self, other):
        return self.cents == other.cents

    def __lt__(self, other):
        return self.cents < other.cents


print(Money(5) <= Money(7), Money(9) >= Money(9), Money(3) > Money(4))
