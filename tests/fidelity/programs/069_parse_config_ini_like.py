raw = """
# comment
[server]
host = 0.0.0.0
port = 8080
debug = true

[database]
url = sqlite:///app.db
pool = 5
; another comment
[empty]
"""


def parse(text):
    sections, current = {}, None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and current is not None:
            key, value = (p.strip() for p in line.split("=", 1))
            if value.isdigit():
                value = int(value)
            elif value.lower() in ("true", "false"):
                value = value.lower() == "true"
            current[key] = value
        else:
            raise ValueError(f"line {lineno}: cannot parse {line!r}")
    return sections


cfg = parse(raw)
print(cfg)
print(cfg["server"]["port"] + 1, type(cfg["server"]["debug"]).__name__, list(cfg))
