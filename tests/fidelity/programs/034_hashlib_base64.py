import hashlib
import base64
import hmac

msg = b"The quick brown fox"
print(hashlib.md5(msg).hexdigest())
print(hashlib.sha1(msg).hexdigest())
print(hashlib.sha256(msg).hexdigest())
h = hashlib.sha256()
h.update(b"The quick ")
h.update(b"brown fox")
print(h.hexdigest() == hashlib.sha256(msg).hexdigest(), h.digest_size, h.name)
print(hashlib.blake2b(msg, digest_size=16).hexdigest(), hashlib.new("sha512", msg).hexdigest()[:32])
enc = base64.b64encode(msg)
print(enc, base64.b64decode(enc), base64.urlsafe_b64encode(b"\xff\xfe\xfd"))
print(base64.b16encode(b"hi"), base64.b32encode(b"hi"))
print(hmac.new(b"key", msg, hashlib.sha256).hexdigest())
print(hmac.compare_digest("abc", "abc"), hashlib.sha3_256(b"").hexdigest()[:16])
