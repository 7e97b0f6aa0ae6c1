import re

EMAIL = re.compile(r"^[\w.+-]+@[\w-]+\.[\w.-]+$")
PHONE = re.compile(r"^\(?(\d{3})\)?[-. ]?(\d{3})[-. ]?(\d{4})$")
for e in ["ann@example.com", "bad@", "x.y+z@sub.domain.org"]:
    print(e, bool(EMAIL.match(e)))
for p in ["(555) 123-4567", "555.123.4567", "12345"]:
    m = PHONE.match(p)
    print(p, "-".join(m.groups()) if m else None)
print(re.sub(r"(\w+)@(\w+)", lambda m: m.group(2) + "@" + m.group(1), "ann@home bob@work"))
print(re.findall(r"(\w+)=(\d+)", "a=1, b=22, c=x"))
print(re.sub(r"\s+", " ", "  too   many    spaces ").strip())
print(re.compile(r"colou?r", re.IGNORECASE).findall("Color colour COLOR"))
print(re.escape("1+1=2?"), re.subn(r"o", "0", "foo boo"))
tokens = re.findall(r"\d+\.\d+|\d+|[-+*/()]", "3.5 * (2 + 10) / 4")
print(tokens)
print(re.match(r"(?P<h>\d\d):(?P<m>\d\d)", "09:45").groupdict())
print(re.split(r"(\d)", "a1b2c"), re.search(r"^b", "a\nb", re.M).start())
