from collections import defaultdict

people = [("alice", "eng"), ("bob", "ops"), ("carol", "eng"), ("dan", "sales"), ("erin", "ops")]
by_team = defaultdict(list)
for name, team in people:
    by_team[team].append(name)
for team in sorted(by_team):
    print(team, "->", ", ".join(by_team[team]))
counts = defaultdict(int)
for _, team in people:
    counts[team] += 1
print(dict(counts))
nested = defaultdict(lambda: defaultdict(int))
nested["a"]["x"] += 2
nested["a"]["y"] += 1
print({k: dict(v) for k, v in nested.items()})
