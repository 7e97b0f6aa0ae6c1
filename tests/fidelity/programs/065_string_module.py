import string
from string import Template

print(string.ascii_lowercase, string.digits, string.punctuation[:10])
print(string.capwords("the quick  brown fox"), len(string.printable), repr(string.whitespace))
t = Template("Hello $name, you owe $$${amount}")
print(t.substitute(name="Ann", amount="12.50"))
print(Template("$who likes $what").safe_substitute(who="tim"))
try:
    Template("$missing").substitute({})
except KeyError as e:
    print("missing:", e)
table = str.maketrans("", "", string.punctuation)
print("Hello, World! (test)".translate(table))
alphabet = string.ascii_uppercase
rot13 = str.maketrans(alphabet + alphabet.lower(), alphabet[13:] + alphabet[:13] + alphabet.lower()[13:] + alphabet.lower()[:13])
print("Hello".translate(rot13))
