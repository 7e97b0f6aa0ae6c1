import re
from collections import Counter

text = """It was the best of times, it was the worst of times, it was the age of
wisdom, it was the age of foolishness, it was the epoch of belief, it was the
epoch of incredulity."""
words = re.findall(r"[a-z']+", text.lower())
print(len(words), len(set(words)))
freq = Counter(words)
for w, n in freq.most_common(5):
    print(f"{w:<8}{'#' * n}")
sentences = [s.strip() for s in re.split(r"[.!?]", text) if s.strip()]
print(len(sentences), round(sum(len(w) for w in words) / len(words), 3))
longest = max(words, key=len)
print(longest, len(longest), sorted({w for w in words if len(w) > 6}))
letters = Counter(c for c in text.lower() if c.isalpha())
print(letters.most_common(3))
