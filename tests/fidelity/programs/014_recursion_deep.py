def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)


print(depth(400))


def flatten(xs):
    out = []
    for x in xs:
        if isinstance(x, list):
            out.extend(flatten(x))
        else:
            out.append(x)
    return out


nested = [1, [2, [3, [4, [5]]]], 6]
print(flatten(nested))


def permutations(items):
    if len(items) <= 1:
        return [items]
    result = []
    for i, x in enumerate(items):
        for p in permutations(items[:i] + items[i + 1:]):
            result.append([x] + p)
    return result


print(len(permutations([1, 2, 3, 4])), permutations([1, 2, 3])[:3])


def hanoi(n, a="A", b="B", c="C", moves=None):
    if moves is None:
        moves = []
    if n:
        hanoi(n - 1, a, c, b, moves)
        moves.append((a, c))
        hanoi(n - 1, b, a, c, moves)
    return moves


print(len(hanoi(10)), hanoi(2))
