import csv
import io
from collections import defaultdict
from datetime import datetime

raw = """date,region,product,units,unit_price
2024-01-03,north,widget,10,2.50
2024-01-03,south,gadget,3,12.00
2024-01-17,north,gadget,5,12.00
2024-02-02,south,widget,25,2.40
2024-02-11,north,widget,8,2.50
2024-02-28,east,gizmo,1,99.99
"""
by_month = defaultdict(float)
by_region = defaultdict(lambda: defaultdict(int))
for row in csv.DictReader(io.StringIO(raw)):
    month = datetime.strptime(row["date"], "%Y-%m-%d").strftime("%b %Y")
    revenue = int(row["units"]) * float(row["unit_price"])
    by_month[month] += revenue
    by_region[row["region"]][row["product"]] += int(row["units"])
for month, rev in by_month.items():
    print(f"{month}: {rev:9.2f}")
for region in sorted(by_region):
    print(region, dict(sorted(by_region[region].items())))
out = io.StringIO()
w = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
w.writerow(["month", "revenue"])
w.writerows((m, round(r, 2)) for m, r in by_month.items())
print(out.getvalue().strip())
