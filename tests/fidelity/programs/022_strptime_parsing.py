from datetime import datetime
import time

raw = ["2024-01-15 08:30", "2024-02-29 23:59", "2023-12-31 00:00"]
parsed = [datetime.strptime(s, "%Y-%m-%d %H:%M") for s in raw]
for p in sorted(parsed):
    print(p.strftime("%d %b %Y, %H:%M"), p.timetuple().tm_yday)
print(datetime.strptime("March 5, 2021", "%B %d, %Y").date())
print(datetime.strptime("05/06/07 1:02:03 PM", "%m/%d/%y %I:%M:%S %p"))
st = time.strptime("2020-06-01", "%Y-%m-%d")
print(st.tm_year, st.tm_mon, st.tm_wday)
print(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(0)))
try:
    datetime.strptime("2024-13-01", "%Y-%m-%d")
except ValueError as e:
    print("error:", e)
