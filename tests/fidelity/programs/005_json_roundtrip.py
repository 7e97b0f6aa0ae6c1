import json

data = {"name": "Widget", "tags": ["a", "b"], "price": 9.99, "stock": None, "active": True,
        "dims": {"w": 10, "h": 2.5}}
s = json.dumps(data, sort_keys=True)
print(s)
back = json.loads(s)
print(back == data, type(back["dims"]).__name__)
print(json.dumps(data, indent=2, sort_keys=True))
print(json.dumps({"u": "café"}), json.dumps({"u": "café"}, ensure_ascii=False))
try:
    json.loads("{bad json}")
except json.JSONDecodeError as e:
    print("error:", e.msg, e.pos)
