import zlib
import base64

text = ("lorem ipsum dolor sit amet " * 40).encode()
packed = zlib.compress(text, 9)
print(len(text), len(packed), zlib.decompress(packed) == text)
print(zlib.crc32(b"hello"), zlib.adler32(b"hello"), hex(zlib.crc32(b"hello") & 0xFFFFFFFF))
token = base64.urlsafe_b64encode(zlib.compress(b'{"user": 42}')).decode()
print(token, zlib.decompress(base64.urlsafe_b64decode(token)))
