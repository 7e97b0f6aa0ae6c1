import json
from datetime import date, datetime
from decimal import Decimal


class Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, (date, datetime)):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o)
        if isinstance(o, set):
            return sorted(o)
        return super().default(o)


record = {"when": date(2024, 5, 17), "amount": Decimal("12.50"), "tags": {3, 1, 2}}
text = json.dumps(record, cls=Encoder, sort_keys=True)
print(text)
print(json.dumps(record, default=str, sort_keys=True))


def hook(d):
    if "when" in d:
        d["when"] = date.fromisoformat(d["when"])
    return d


back = json.loads(text, object_hook=hook)
print(back["when"].year, back["tags"], json.loads("[1.10]", parse_float=Decimal))
try:
    json.dumps({"x": object()})
except TypeError as e:
    print("TypeError:", str(e)[:40])
