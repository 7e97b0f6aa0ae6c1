from datetime import date, datetime, timedelta

d = date(2024, 2, 28)
print(d + timedelta(days=1), d + timedelta(days=2))
print(d.isoformat(), d.weekday(), d.isoweekday(), d.strftime("%A %d %B %Y"))
dt = datetime(2024, 3, 10, 14, 30, 15)
print(dt, dt.strftime("%Y/%m/%d %I:%M %p"), dt.date(), dt.time())
delta = datetime(2024, 12, 25) - dt
print(delta.days, delta.seconds, delta.total_seconds())
print(dt.replace(year=2025, month=1), dt + timedelta(hours=12, minutes=45))
print(date.fromisoformat("2023-07-04").toordinal(), datetime.fromisoformat("2024-01-02T03:04:05"))
print(sorted([date(2024, 5, 1), date(2023, 1, 1), date(2024, 1, 15)]))
print(timedelta(days=1, hours=3) * 2, timedelta(minutes=90) // timedelta(minutes=30))
