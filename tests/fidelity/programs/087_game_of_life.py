def step(live):
    counts = {}
    for (r, c) in live:
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dr or dc:
                    key = (r + dr, c + dc)
                    counts[key] = counts.get(key, 0) + 1
    return {cell for cell, n in counts.items() if n == 3 or (n == 2 and cell in live)}


def render(live, rows=6, cols=6):
    return "\n".join("".join("#" if (r, c) in live else "." for c in range(cols)) for r in range(rows))


glider = {(0, 1), (1, 2), (2, 0), (2, 1), (2, 2)}
state = glider
for gen in range(4):
    state = step(state)
print(render(state))
print(sorted(state), len(state))
