"""Runtime guards the compiled block calls (``_getattr_``, ``_write_``, ``_inplacevar_`` ...).

The transformer emits native code wherever a name is statically safe, so these
run only where safety depends on the object: ``_private`` attributes (allowed
on the conversation's own classes and instances, never on library objects or
modules), a vetted set of dunder reads, ``str.format``/``format_map`` (routed
through a formatter that checks every attribute in a field name: the
historical RestrictedPython CVE), ``getattr``/``setattr`` builtins, and size
checks for operations that can grow a sequence explosively.

Guards are closures over one interpreter's ``own_classes`` set; none of them
hands out an object whose public attributes would reopen a walk.
"""

from __future__ import annotations

import operator
import string
import types
import typing

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from envloop.sandbox._format_guard import FormatGuards, GuardedFormatter, refused
from envloop.sandbox.rules import ALLOWED_DUNDER_READS, DATA_MODEL_DUNDERS, NAMEDTUPLE_NAMES

#: Largest sequence (items or characters) an in-place or ``*`` operator may build.
MAX_SEQUENCE = 50_000_000
#: Largest int (in bits) ``**=``/``<<=`` may build.
MAX_INT_BITS = 64_000_000

_RAISE = object()
_SEQUENCES = (str, bytes, bytearray, list, tuple)
_TEXT_DUNDERS = frozenset({"__name__", "__qualname__", "__module__", "__doc__", "__version__"})
_OWN_DUNDERS = frozenset({"__members__", "__slots__"})
_LINK_DUNDERS = frozenset({"__annotations__", "__mro__", "__match_args__", "__wrapped__", "__cause__",
                           "__context__"})
_FORMATTER_METHODS = frozenset({"format", "vformat", "get_field", "get_value"})

_IOPS: dict[str, typing.Callable[[typing.Any, typing.Any], typing.Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift, ">>=": operator.irshift,
    "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand, "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}


def check_growth(op: str, x: object, y: object) -> None:
    """Refuse an operation whose result would be huge, before computing it."""
    if op == "+=":
        if isinstance(x, _SEQUENCES) and isinstance(y, _SEQUENCES):
            size = len(x) + len(y)
        else:
            return
    elif op == "*=":
        if isinstance(x, _SEQUENCES) and isinstance(y, int):
            size = len(x) * y
        elif isinstance(y, _SEQUENCES) and isinstance(x, int):
            size = len(y) * x
        else:
            return
    elif op in ("**=", "<<=") and type(x) is int and type(y) is int and y > 0:
        bits = x.bit_length() * y if op == "**=" else x.bit_length() + y
        if bits > MAX_INT_BITS and abs(x) > 1:
            raise MemoryError(f"result would have about {bits} bits (limit {MAX_INT_BITS})")
        return
    else:
        return
    if size > MAX_SEQUENCE:
        raise MemoryError(f"result would have {size} items (limit {MAX_SEQUENCE})")


def inplacevar(op: str, x: typing.Any, y: typing.Any) -> typing.Any:
    """``x op= y`` with the size check (stock ``_inplacevar_`` signature)."""
    check_growth(op, x, y)
    return _IOPS[op](x, y)


def inplace_attr(obj: typing.Any, name: str, op: str, value: typing.Any) -> None:
    """``obj.name op= value``; the name was vetted at compile time, ``obj`` by ``_write_`` if private."""
    setattr(obj, name, inplacevar(op, getattr(obj, name), value))


def inplace_item(obj: typing.Any, key: typing.Any, op: str, value: typing.Any) -> None:
    """``obj[key] op= value`` with the size check."""
    obj[key] = inplacevar(op, obj[key], value)


def checked_mul(x: typing.Any, y: typing.Any) -> typing.Any:
    """``x * y`` where one side is a literal sequence (``'a' * 10**10``)."""
    check_growth("*=", x, y)
    return x * y


class _TypeMeta(type):
    """Metaclass of the sandbox's ``type`` and of metaclass stand-ins.

    ``isinstance``/``issubclass`` delegate to the real class; a one-argument
    call is ``type(x)``; calling with three arguments (a class with arbitrary
    dunders, bypassing the class-body checks) is refused.
    """

    _real: type

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._real)

    def __call__(cls, *args: object, **kwargs: object) -> type:
        if len(args) != 1 or kwargs:
            raise TypeError(
                f"{cls.__name__}() cannot create classes in the sandbox (use a class statement)"
            )
        return safe_type(args[0])


class SafeType(metaclass=_TypeMeta):
    """The sandbox's ``type``: one argument only, never hands out the real ``type``."""

    _real = type


SafeType.__name__ = SafeType.__qualname__ = "type"
_STANDINS: dict[type, type] = {type: SafeType, _TypeMeta: SafeType}
REAL_METACLASS: dict[type, type] = {SafeType: type}


def metaclass_standin(meta: type) -> type:
    """What the sandbox sees instead of a metaclass (``ABCMeta``, ``EnumType`` ...).

    ``class X(metaclass=ABCMeta)`` still works (``__build_class__`` maps the
    stand-in back), but ``ABCMeta('X', (), {'__getattr__': f})`` does not.
    """
    standin = _STANDINS.get(meta)
    if standin is None:
        standin = _TypeMeta(meta.__name__, (), {"_real": meta, "__qualname__": meta.__qualname__,
                                                 "__module__": meta.__module__})
        _STANDINS[meta] = standin
        REAL_METACLASS[standin] = meta
    return standin


def vet_value(value: typing.Any) -> typing.Any:
    """Replace a metaclass by its stand-in; anything else passes unchanged."""
    if isinstance(value, type) and issubclass(value, type):
        return metaclass_standin(value)
    return value


def safe_type(obj: object) -> type:
    """``type(obj)``, except that metaclasses (``type`` itself included) come back as stand-ins."""
    cls = type(obj)
    if issubclass(cls, type):
        return metaclass_standin(cls)
    return cls


class Guards(FormatGuards):
    """The runtime guards of one interpreter, closed over its ``own_classes``."""

    def __init__(self, own_classes: set[type], plain_own: set[type] | None = None) -> None:
        self.own = own_classes
        self.plain = plain_own if plain_own is not None else set()
        self._plain_cache: dict[str, bool] = {}
        self.formatter = GuardedFormatter(self.lookup)

    # -- ownership ----------------------------------------------------------
    def owns(self, obj: object) -> bool:
        """``obj`` is an instance or a class made by the conversation's own ``class`` statements."""
        return type(obj) in self.own or (isinstance(obj, type) and obj in self.own)

    def own_private(self, obj: object, name: str) -> bool:
        """A ``_name`` the conversation itself defined: on the instance or in one of its own classes.

        Private names inherited from a library base (``string.Formatter._vformat``)
        stay refused even on an own instance.
        """
        cls = type(obj)
        if cls in self.own:
            inst = getattr(obj, "__dict__", None)
            if inst is not None and name in inst:
                return True
        elif isinstance(obj, type) and obj in self.own:
            cls = obj
        else:
            return False
        return any(name in vars(k) for k in cls.__mro__ if k in self.own)

    # -- reads --------------------------------------------------------------
    def lookup(self, obj: typing.Any, name: str) -> typing.Any:
        """The attribute policy for names decided at run time; raises AttributeError when refused."""
        if type(name) is not str:
            raise TypeError(f"attribute name must be a string, not {type(name).__name__}")
        if name.endswith("__roles__") or name in INSPECT_ATTRIBUTES:
            raise refused(name)
        if not name.startswith("_") or name == "_":
            return self._public(obj, name)
        if name.startswith("__") and name.endswith("__"):
            return self._dunder(obj, name)
        if name in NAMEDTUPLE_NAMES and _is_namedtuple(obj):
            return getattr(obj, name)
        if type(obj) is super and obj.__self_class__ in self.plain:  # type: ignore[attr-defined]
            return getattr(obj, name)  # super()._helper() inside a plain own class
        if self.own_private(obj, name):
            return getattr(obj, name)
        raise refused(name, " (private attributes only on the conversation's own classes)")

    def _public(self, obj: typing.Any, name: str) -> typing.Any:
        value = getattr(obj, name)
        if isinstance(value, type) and issubclass(value, type):
            return metaclass_standin(value)
        if name in ("format", "format_map"):
            return self._format_method(obj, name, value)
        if name == "Formatter" and isinstance(value, type) and issubclass(value, string.Formatter):
            raise refused(name, " (string.Formatter walks attributes unchecked)")
        if name in _FORMATTER_METHODS and isinstance(getattr(value, "__self__", None), string.Formatter):
            raise refused(name, " (string.Formatter walks attributes unchecked)")
        return value

    def _dunder(self, obj: typing.Any, name: str) -> typing.Any:
        if name == "__class__":
            return safe_type(obj)
        if name in _TEXT_DUNDERS:
            value = getattr(obj, name)
            if value is None or type(value) is str:
                return value
        elif name == "__dict__":
            if type(obj) in self.own:
                return obj.__dict__
        elif name in _LINK_DUNDERS:
            return self._link_dunder(obj, name)
        elif name in _OWN_DUNDERS:
            if self.owns(obj):
                return getattr(obj, name)
        elif (
            name in DATA_MODEL_DUNDERS
            and name not in ALLOWED_DUNDER_READS
            and not (isinstance(obj, type) and issubclass(obj, type))
        ):
            return getattr(obj, name)
        raise refused(name)

    def _link_dunder(self, obj: typing.Any, name: str) -> typing.Any:
        """``__annotations__`` (a copy: dataclasses compile source from its keys), ``__mro__``,
        ``__wrapped__``, ``__cause__``/``__context__``: values that lead nowhere a public name could not."""
        value = getattr(obj, name)
        if name == "__annotations__":
            if type(value) is dict:
                return dict(value)
        elif name == "__match_args__":
            if type(value) is tuple:
                return value
        elif name == "__mro__":
            if type(value) is tuple:
                return tuple(vet_value(k) for k in value)
        elif name == "__wrapped__":
            if not isinstance(value, types.ModuleType):
                return vet_value(value)
        elif value is None or isinstance(value, BaseException):
            return value
        raise refused(name)

    def register(self, cls: type) -> None:
        """Record a class made by a ``class`` statement (and whether its whole MRO is clean)."""
        self.own.add(cls)
        if type(cls) is type and all(k in self.own or _clean_builtin(k) for k in cls.__mro__):
            self.plain.add(cls)

    def getattr(self, obj: typing.Any, name: str, default: typing.Any = _RAISE) -> typing.Any:
        """``_getattr_`` and the ``getattr`` builtin: raising, unlike stock ``safer_getattr``."""
        if (type(obj) in self.plain or (type(obj) is type and obj in self.plain)) and type(name) is str \
                and name.startswith("_") and not name.startswith("__"):
            return getattr(obj, name) if default is _RAISE else getattr(obj, name, default)
        if default is _RAISE:
            return self.lookup(obj, name)
        try:
            return self.lookup(obj, name)
        except AttributeError:
            return default

    def hasattr(self, obj: typing.Any, name: str) -> bool:
        """The ``hasattr`` builtin: whether the attribute exists, as in CPython.

        Existence reveals nothing ``dir()`` does not; the value is never handed out,
        and reading it still goes through :meth:`getattr`'s policy.
        """
        if type(name) is not str:
            raise TypeError("hasattr(): attribute name must be string")
        return hasattr(obj, name)

    def vars(self, *args: typing.Any) -> dict[str, typing.Any]:
        """``vars(obj)`` for the conversation's own instances (their ``__dict__``); nothing else."""
        if len(args) != 1:
            raise TypeError("vars() needs exactly one argument in the sandbox")
        obj = args[0]
        if type(obj) in self.own and hasattr(obj, "__dict__"):
            own_dict: dict[str, typing.Any] = obj.__dict__
            return own_dict
        raise TypeError(f"vars() is only available for instances of classes defined in this conversation, "
                        f"not {type(obj).__name__!r}")

    # -- writes -------------------------------------------------------------
    def write(self, obj: typing.Any) -> typing.Any:
        """``_write_``: private attributes may be set/deleted only on own instances and classes."""
        if self.owns(obj):
            return obj
        raise AttributeError(
            f"cannot set a private attribute on {type(obj).__name__!r} objects "
            "(only on instances of classes defined in this conversation)"
        )

    def _check_write_name(self, obj: typing.Any, name: str) -> typing.Any:
        if type(name) is not str:
            raise TypeError(f"attribute name must be a string, not {type(name).__name__}")
        if name.endswith("__roles__") or name in INSPECT_ATTRIBUTES or (
            name.startswith("__") and name.endswith("__")
        ):
            raise refused(name)
        return self.write(obj) if name.startswith("_") and name != "_" else obj

    def setattr(self, obj: typing.Any, name: str, value: typing.Any) -> None:
        """The ``setattr`` builtin with the same name policy as ``obj.name = value``."""
        setattr(self._check_write_name(obj, name), name, value)

    def delattr(self, obj: typing.Any, name: str) -> None:
        """The ``delattr`` builtin with the same name policy as ``del obj.name``."""
        delattr(self._check_write_name(obj, name), name)

def _clean_builtin(cls: type) -> bool:
    """A builtin type without ``_private`` attributes (object, dict, Exception ...)."""
    return cls.__module__ == "builtins" and not any(
        n.startswith("_") and not n.startswith("__") for n in vars(cls)
    )


def _is_namedtuple(obj: object) -> bool:
    cls = obj if isinstance(obj, type) else type(obj)
    return issubclass(cls, tuple) and type(getattr(cls, "_fields", None)) is tuple
