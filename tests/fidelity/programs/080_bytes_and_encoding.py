data = "Grüße, 世界!"
b = data.encode("utf-8")
print(b, len(data), len(b), b.decode("utf-8") == data)
print(data.encode("utf-16-le")[:6], data.encode("ascii", errors="replace"), data.encode("ascii", "ignore"))
print(data.encode("latin-1", errors="xmlcharrefreplace"))
raw = bytes([72, 101, 108, 108, 111])
print(raw, raw.hex(), bytes.fromhex("48656c6c6f"), raw[1], raw[1:3], list(raw[:2]))
ba = bytearray(b"abc")
ba[0] = ord("A")
ba += b"def"
print(ba, ba.upper(), bytes(ba).split(b"c"), b"-".join([b"x", b"y"]))
print(int.from_bytes(b"\x01\x00", "little"), (1024).to_bytes(2, "big"), b"\xff".decode("utf-8", "replace"))
print("é".encode("cp1252"), b"\xe9".decode("latin-1"), "ß".upper(), "ǅ".lower())
