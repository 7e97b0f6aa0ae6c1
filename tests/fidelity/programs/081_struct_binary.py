import struct

packed = struct.pack("<IhB3s", 1024, -2, 255, b"abc")
print(packed, len(packed), struct.calcsize("<IhB3s"))
print(struct.unpack("<IhB3s", packed))
header = struct.Struct(">HHI")
msg = header.pack(1, 2, 3000000)
print(msg.hex(), header.unpack(msg), header.size)
records = b"".join(struct.pack("<if", i, i * 1.5) for i in range(3))
print([(i, round(f, 2)) for i, f in struct.iter_unpack("<if", records)])
