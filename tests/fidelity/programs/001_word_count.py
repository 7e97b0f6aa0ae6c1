text = """the quick brown fox jumps over the lazy dog
the dog barks and the fox runs away"""
counts = {}
for word in text.split():
    counts[word] = counts.get(word, 0) + 1
for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
    print(f"{word:>6}: {n}")
