from datetime import date, timedelta

start = date(2024, 1, 1)
values = [10, 12, 9, 15, 20, 18, 25, 30, 28, 35, 33, 40, 38, 45]
series = [(start + timedelta(days=i), v) for i, v in enumerate(values)]


def moving_average(xs, n):
    return [round(sum(xs[i - n + 1:i + 1]) / n, 2) for i in range(n - 1, len(xs))]


print(moving_average(values, 3)[:5])
weekly = {}
for d, v in series:
    week = d.isocalendar()[1]
    weekly.setdefault(week, []).append(v)
for week, vs in sorted(weekly.items()):
    print(f"week {week}: n={len(vs)} sum={sum(vs)} max={max(vs)}")
changes = [(series[i][0], b - a) for i, (a, b) in enumerate(zip(values, values[1:]), start=1)]
biggest = max(changes, key=lambda c: c[1])
print("biggest jump on", biggest[0].strftime("%a %d %b"), "by", biggest[1])
print("weekdays only:", sum(v for d, v in series if d.weekday() < 5))
