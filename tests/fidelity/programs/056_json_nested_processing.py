import json

payload = """
{"orders": [
  {"id": 1, "customer": "ann", "items": [{"sku": "x", "qty": 2, "price": 3.5}, {"sku": "y", "qty": 1, "price": 10}]},
  {"id": 2, "customer": "bob", "items": [{"sku": "x", "qty": 5, "price": 3.5}]},
  {"id": 3, "customer": "ann", "items": []}
]}
"""
data = json.loads(payload)
totals = {}
for order in data["orders"]:
    amount = sum(i["qty"] * i["price"] for i in order["items"])
    totals[order["customer"]] = totals.get(order["customer"], 0) + amount
print(totals)
skus = sorted({i["sku"] for o in data["orders"] for i in o["items"]})
print(skus)
summary = {"customers": len(totals), "revenue": sum(totals.values()), "empty_orders": [o["id"] for o in data["orders"] if not o["items"]]}
print(json.dumps(summary, indent=4))
print(json.dumps([1, 2.0, "three", None, True, {"k": []}], separators=(",", ":")))
print(json.loads('{"a": 1e2, "b": [1, 2], "c": "\\u00e9"}'))
