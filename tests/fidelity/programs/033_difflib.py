import difflib

a = ["apple", "banana", "cherry", "date"]
b = ["apple", "blueberry", "cherry", "date", "elderberry"]
for line in difflib.unified_diff(a, b, fromfile="old", tofile="new", lineterm=""):
    print(line)
print(list(difflib.ndiff(["one", "two"], ["one", "too"])))
print(difflib.get_close_matches("appel", ["ape", "apple", "peach", "puppy"]))
sm = difflib.SequenceMatcher(None, "kitten", "sitting")
print(round(sm.ratio(), 4), sm.get_matching_blocks())
for tag, i1, i2, j1, j2 in sm.get_opcodes():
    print(tag, i1, i2, j1, j2)
