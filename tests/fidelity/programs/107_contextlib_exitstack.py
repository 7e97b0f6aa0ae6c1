from contextlib import ExitStack, contextmanager, nullcontext, closing

log = []


@contextmanager
def resource(name):
    log.append(f"open {name}")
    try:
        yield name
    finally:
        log.append(f"close {name}")


with ExitStack() as stack:
    names = [stack.enter_context(resource(n)) for n in ("db", "cache", "queue")]
    stack.callback(log.append, "callback ran")
    log.append(f"using {names}")
print("\n".join(log))


class Conn:
    def close(self):
        print("conn closed")


with closing(Conn()):
    print("working")
with nullcontext(5) as value:
    print("value", value)
