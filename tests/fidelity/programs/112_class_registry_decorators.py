REGISTRY = {}


def register(name):
    def deco(cls):
        REGISTRY[name] = cls
        return cls
    return deco


class Plugin:
    def run(self, x):
        raise NotImplementedError


@register("double")
class Double(Plugin):
    def run(self, x):
        return x * 2


@register("square")
class Square(Plugin):
    def run(self, x):
        return x * x


def timed(label):
    def deco(fn):
        def wrapper(*args, **kwargs):
            result = fn(*args, **kwargs)
            print(f"[{label}] {fn.__name__}{args} -> {result}")
            return result
        return wrapper
    return deco


@timed("calc")
def apply_all(x):
    return [REGISTRY[name]().run(x) for name in sorted(REGISTRY)]


print(sorted(REGISTRY), apply_all(7))
