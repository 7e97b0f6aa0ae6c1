readings = [("s1", 20.5), ("s2", 21.0), ("s1", 22.5), ("s3", 19.0), ("s2", 23.5), ("s1", 21.0)]
sensors = sorted({s for s, _ in readings})
for s in sensors:
    vals = [v for name, v in readings if name == s]
    print(s, len(vals), min(vals), max(vals), round(sum(vals) / len(vals), 2))
print(sum(v for _, v in readings) / len(readings))
print(max((v, s) for s, v in readings), min(readings, key=lambda r: r[1]))
hot = list(filter(lambda r: r[1] > 21, readings))
print(hot, sorted(map(lambda r: r[1], hot)))
print({s: [v for n, v in readings if n == s][-1] for s in sensors})
