def divide(a, b):
    try:
        result = a / b
    except ZeroDivisionError as e:
        print("caught:", e)
        return None
    except TypeError:
        print("bad types")
        raise
    else:
        print("ok")
        return result
    finally:
        print("finally for", a, b)


print(divide(6, 3))
print(divide(1, 0))
try:
    divide("a", 2)
except TypeError as e:
    print("re-raised:", type(e).__name__)


class AppError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


try:
    try:
        raise KeyError("k")
    except KeyError as e:
        raise AppError(404, "not found") from e
except AppError as e:
    print(e.code, e, isinstance(e, Exception))
try:
    int("x")
except (ValueError, TypeError) as e:
    print(str(e))
