import statistics

scores = {
    "ann": [88, 92, 79, 95],
    "bob": [72, 65, 80, 70],
    "cara": [95, 98, 100, 91],
    "dev": [55, 62, 70, 58],
}


def letter(avg):
    for threshold, grade in [(90, "A"), (80, "B"), (70, "C"), (60, "D")]:
        if avg >= threshold:
            return grade
    return "F"


report = []
for name, marks in scores.items():
    avg = statistics.mean(marks)
    report.append((name, avg, letter(avg), max(marks) - min(marks)))
report.sort(key=lambda r: r[1], reverse=True)
print(f"{'name':<6}{'avg':>7}{'grade':>7}{'range':>7}")
for name, avg, grade, spread in report:
    print(f"{name:<6}{avg:>7.2f}{grade:>7}{spread:>7}")
all_marks = [m for ms in scores.values() for m in ms]
print("class median", statistics.median(all_marks), "stdev", round(statistics.stdev(all_marks), 3))
print("top:", report[0][0], "| passing:", [r[0] for r in report if r[2] != "F"])
