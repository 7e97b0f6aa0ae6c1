import csv
import io

raw = """name,age,city
Alice,30,Paris
Bob,25,"New York, NY"
Carol,35,Berlin
"""
reader = csv.DictReader(io.StringIO(raw))
rows = list(reader)
print(reader.fieldnames)
for r in rows:
    print(r["name"], int(r["age"]) + 1, r["city"])
out = io.StringIO()
writer = csv.writer(out, lineterminator="\n")
writer.writerow(["name", "older"])
for r in rows:
    writer.writerow([r["name"], int(r["age"]) * 2])
print(out.getvalue(), end="")
out2 = io.StringIO()
dw = csv.DictWriter(out2, fieldnames=["city", "name"], lineterminator="\n")
dw.writeheader()
dw.writerows([{"city": r["city"], "name": r["name"]} for r in rows])
print(out2.getvalue())
print(list(csv.reader(["a;b;c", "1;2;3"], delimiter=";")))
