import re

log = """2024-01-05 10:00:01 ERROR disk full on /dev/sda1
2024-01-05 10:02:13 INFO backup done
2024-01-06 08:15:00 WARNING cpu at 91%
2024-01-06 09:00:00 ERROR timeout contacting db-02"""
pattern = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>[\d:]+) (?P<level>[A-Z]+) (?P<msg>.*)$", re.M)
for m in pattern.finditer(log):
    if m.group("level") == "ERROR":
        print(m.group("date"), m["msg"])
print(re.findall(r"\d+%", log))
print(re.sub(r"\d{4}-(\d{2})-(\d{2})", r"\2/\1", log.splitlines()[0]))
print(re.split(r"[,;\s]+", "a, b;c  d"))
m = re.search(r"db-(\d+)", log)
print(m.group(0), m.group(1), m.span())
print(pattern.groupindex["level"], bool(re.fullmatch(r"[a-z]+", "abc")))
