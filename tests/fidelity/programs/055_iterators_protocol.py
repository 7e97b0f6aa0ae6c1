class Countdown:
    def __init__(self, start):
        self.current = start

    def __iter__(self):
        return self

    def __next__(self):
        if self.current <= 0:
            raise StopIteration
        self.current -= 1
        return self.current + 1


class Range2D:
    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols

    def __iter__(self):
        for r in range(self.rows):
            for c in range(self.cols):
                yield r, c

    def __contains__(self, item):
        r, c = item
        return 0 <= r < self.rows and 0 <= c < self.cols

    def __reversed__(self):
        return reversed(list(self))


print(list(Countdown(5)), sum(Countdown(100)))
grid = Range2D(2, 3)
print(list(grid), (1, 2) in grid, (2, 0) in grid, list(reversed(grid))[:2])
it = iter([10, 20, 30])
print(next(it), next(it), next(it), next(it, "done"))
print(list(map(lambda p: p[0] * p[1], grid)), list(filter(None, [0, 1, "", "a", None])))
print(list(zip(Countdown(3), "abc")), dict(enumerate(Countdown(2))))
