inventory = [
    {"sku": "A1", "name": "Widget", "qty": 120, "price": 2.5, "category": "tools"},
    {"sku": "B2", "name": "Gadget", "qty": 0, "price": 12.0, "category": "electronics"},
    {"sku": "C3", "name": "Doohickey", "qty": 35, "price": 7.25, "category": "tools"},
    {"sku": "D4", "name": "Gizmo", "qty": 8, "price": 99.99, "category": "electronics"},
]
in_stock = [i for i in inventory if i["qty"] > 0]
value = {i["sku"]: round(i["qty"] * i["price"], 2) for i in in_stock}
print(value)
by_cat = {}
for i in inventory:
    cat = by_cat.setdefault(i["category"], {"count": 0, "value": 0.0})
    cat["count"] += 1
    cat["value"] += i["qty"] * i["price"]
for cat, stats in sorted(by_cat.items()):
    print(f"{cat:<12} {stats['count']:>2} items  ${stats['value']:>9.2f}")
low = [i["name"] for i in inventory if i["qty"] < 10]
print("reorder:", ", ".join(low))
print(f"total: {sum(value.values()):.2f}", max(inventory, key=lambda i: i["price"])["name"])
