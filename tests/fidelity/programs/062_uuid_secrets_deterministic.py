import uuid

ns = uuid.NAMESPACE_DNS
u5 = uuid.uuid5(ns, "example.com")
u3 = uuid.uuid3(ns, "example.com")
print(u5, u5.version, u3.hex)
u = uuid.UUID("12345678-1234-5678-1234-567812345678")
print(u.int, u.urn, str(u).upper(), u.bytes[:4])
r = uuid.uuid4()
print(r.version, len(str(r)), r == uuid.UUID(str(r)))
