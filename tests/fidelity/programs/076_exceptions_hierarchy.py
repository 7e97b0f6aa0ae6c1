class ValidationError(Exception):
    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class RequiredError(ValidationError):
    def __init__(self, field):
        super().__init__(field, "is required")


def validate(user):
    errors = []
    for f in ("name", "email"):
        if not user.get(f):
            errors.append(RequiredError(f))
    if user.get("age") is not None and not 0 < user["age"] < 150:
        errors.append(ValidationError("age", f"{user['age']} out of range"))
    return errors


for u in [{"name": "ann", "email": "a@x"}, {"email": ""}, {"name": "x", "email": "y", "age": 200}]:
    errs = validate(u)
    print([str(e) for e in errs], [type(e).__name__ for e in errs])
try:
    raise RequiredError("token")
except ValidationError as e:
    print("caught", e.field, e.message, e.args)
try:
    [][1]
except LookupError as e:
    print(type(e).__name__, e)
try:
    raise ValueError("a", 1)
except Exception as e:
    print(e.args, repr(e))
