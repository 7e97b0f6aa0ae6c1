from datetime import datetime, timedelta, timezone

utc = timezone.utc
cet = timezone(timedelta(hours=1), "CET")
ist = timezone(timedelta(hours=5, minutes=30))
moment = datetime(2024, 6, 1, 12, 0, tzinfo=utc)
print(moment, moment.astimezone(cet), moment.astimezone(ist))
print(moment.isoformat(), moment.astimezone(ist).strftime("%H:%M %z %Z"))
print(moment.timestamp(), datetime.fromtimestamp(1700000000, tz=utc))
print(moment.astimezone(cet) == moment, cet.utcoffset(None), ist.tzname(None))
aware = datetime.fromisoformat("2024-03-10T08:00:00+02:00")
print(aware.utcoffset(), (aware - moment).total_seconds() / 3600)
