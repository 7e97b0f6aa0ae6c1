import re

TOKEN = re.compile(r"\s*(?:(\d+\.?\d*)|(.))")


def tokenize(src):
    for number, op in TOKEN.findall(src):
        yield ("num", float(number)) if number else ("op", op)


class Parser:
    def __init__(self, src):
        self.tokens = list(tokenize(src))
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("eof", None)

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def expr(self):
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            value = value + self.term() if op == "+" else value - self.term()
        return value

    def term(self):
        value = self.factor()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            value = value * self.factor() if op == "*" else value / self.factor()
        return value

    def factor(self):
        kind, val = self.take()
        if kind == "num":
            return val
        if val == "-":
            return -self.factor()
        if val == "(":
            v = self.expr()
            self.take()
            return v
        raise SyntaxError(f"unexpected {val!r}")


for src in ["1 + 2 * 3", "(1 + 2) * 3", "10 / 4 - 1", "-(2 + 3) * 2.5", "2 * (3 + (4 - 1)) / 3"]:
    print(f"{src:<25} = {Parser(src).expr():g}")
try:
    Parser("1 + * 2").expr()
except SyntaxError as e:
    print("error:", e)
