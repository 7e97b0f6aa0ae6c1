from contextlib import contextmanager, suppress


class Timer:
    def __init__(self, name):
        self.name = name
        self.log = []

    def __enter__(self):
        self.log.append(f"enter {self.name}")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.log.append(f"exit {self.name} error={exc_type.__name__ if exc_type else None}")
        return exc_type is ValueError


with Timer("a") as t:
    t.log.append("body")
print(t.log)
with Timer("b") as t2:
    raise ValueError("swallowed")
print(t2.log)


@contextmanager
def tag(name):
    print(f"<{name}>")
    try:
        yield name.upper()
    finally:
        print(f"</{name}>")


with tag("div") as upper:
    print("inside", upper)
with suppress(KeyError):
    {}["missing"]
    print("not reached")
print("after suppress")
with tag("outer"), tag("inner"):
    print("nested")
