import tomllib

doc = """
title = "Example"
[owner]
name = "Tom"
dob = 1979-05-27T07:32:00-08:00
[database]
ports = [8000, 8001, 8002]
enabled = true
temp_targets = { cpu = 79.5, case = 72.0 }
[[products]]
name = "Hammer"
sku = 738594937
[[products]]
name = "Nail"
"""
cfg = tomllib.loads(doc)
print(cfg["title"], cfg["owner"]["name"], cfg["owner"]["dob"].year, cfg["owner"]["dob"].utcoffset())
print(cfg["database"], [p["name"] for p in cfg["products"]])
try:
    tomllib.loads("x = ")
except tomllib.TOMLDecodeError as e:
    print("error:", type(e).__name__)
