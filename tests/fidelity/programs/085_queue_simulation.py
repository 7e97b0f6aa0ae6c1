import random
from collections import deque

random.seed(2024)
queue = deque()
served, waits = 0, []
for minute in range(60):
    if random.random() < 0.4:
        queue.append(minute)
    if minute % 2 == 0 and queue:
        arrived = queue.popleft()
        waits.append(minute - arrived)
        served += 1
print("served", served, "left", len(queue))
print("avg wait", round(sum(waits) / len(waits), 3), "max wait", max(waits))
hist = {}
for w in waits:
    bucket = w // 5 * 5
    hist[bucket] = hist.get(bucket, 0) + 1
for bucket in sorted(hist):
    print(f"{bucket:>2}-{bucket + 4:<2} {'*' * hist[bucket]}")
