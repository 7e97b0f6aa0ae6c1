import re
from collections import Counter, defaultdict

docs = {
    "a.txt": "Python is great. Python is readable; python is fun!",
    "b.txt": "Readable code is maintainable code. Fun fact: code is read often.",
    "c.txt": "Great tools make great code.",
}
STOP = {"is", "a", "the", "make"}
index = defaultdict(set)
total = Counter()
for name, text in docs.items():
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP]
    total.update(words)
    for w in words:
        index[w].add(name)
print(total.most_common(4))
for word in ["python", "code", "great", "missing"]:
    print(word, sorted(index.get(word, ())))
common = set.intersection(*(set(re.findall(r"[a-z]+", t.lower())) for t in docs.values()))
print(sorted(common))
