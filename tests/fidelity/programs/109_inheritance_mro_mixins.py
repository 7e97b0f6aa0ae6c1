import json


class JsonMixin:
    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)


class ReprMixin:
    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({fields})"


class Base:
    def __init__(self, **kw):
        self.data = dict(kw)

    def to_dict(self):
        return dict(self.data)


class User(JsonMixin, ReprMixin, Base):
    def __init__(self, name, **kw):
        super().__init__(name=name, **kw)

    def greet(self):
        return f"hi {self.data['name']}"


class Admin(User):
    def greet(self):
        return super().greet().upper() + "!"


u = User("ann", age=3)
a = Admin("root", level=9)
print(u, a, u.to_json(), a.greet(), u.greet())
print(isinstance(a, JsonMixin), type(a).__name__, issubclass(Admin, Base))
