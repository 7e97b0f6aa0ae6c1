import unicodedata

for ch in "aÅ€3٣":
    print(ch, unicodedata.name(ch), unicodedata.category(ch), unicodedata.numeric(ch, None))
s = "Crème Brûlée à la carte"
stripped = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
print(stripped, len(s), len(unicodedata.normalize("NFD", s)))
print(unicodedata.lookup("SNOWMAN"), unicodedata.normalize("NFKC", "ﬁ①"), unicodedata.east_asian_width("中"))
