import secrets
import random

tok = secrets.token_hex(16)
print(len(tok), all(c in "0123456789abcdef" for c in tok), len(secrets.token_bytes(8)))
print(len(secrets.token_urlsafe(12)) >= 12, secrets.choice([7]), 0 <= secrets.randbelow(10) < 10)
random.seed("envloop")
population = [random.gauss(170, 10) for _ in range(500)]
buckets = {}
for h in population:
    b = int(h // 10 * 10)
    buckets[b] = buckets.get(b, 0) + 1
for b in sorted(buckets):
    print(f"{b}s {buckets[b]:4d} {'#' * (buckets[b] // 10)}")
