"""The names envloop's policy allows and refuses, shared by the transformer and the guards.

RestrictedPython refuses every ``_``-prefixed name.  envloop keeps that rule
and opens exactly these holes: data-model dunders defined in a class body, a
vetted set of dunder reads, ``_private`` names below module level and on the
conversation's own classes, and namedtuple's underscored API.
"""

from __future__ import annotations

import re

#: Data-model methods a class body may define; everything else dunder is refused.
DATA_MODEL_DUNDERS = frozenset(
    ["__init__", "__post_init__", "__new__", "__repr__", "__str__", "__format__", "__bytes__", "__len__", "__length_hint__", "__iter__", "__next__", "__reversed__", "__getitem__", "__setitem__", "__delitem__", "__missing__", "__contains__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__enter__", "__exit__", "__call__", "__copy__", "__deepcopy__", "__neg__", "__pos__", "__abs__", "__invert__", "__complex__", "__int__", "__float__", "__index__", "__round__", "__trunc__", "__floor__", "__ceil__"]
    + [
        f"__{prefix}{op}__"
        for op in ["add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod", "pow", "lshift", "rshift", "and", "xor", "or"]
        for prefix in ("", "r", "i")
    ]
)

#: Dunder attributes that may be *read*; the runtime guard vets each object.
ALLOWED_DUNDER_READS = frozenset(
    ["__name__", "__qualname__", "__doc__", "__module__", "__class__", "__dict__", "__members__", "__annotations__", "__version__", "__match_args__", "__slots__", "__mro__", "__wrapped__", "__cause__", "__context__"]
)

#: Dunder names a class body may bind as plain names.
CLASS_BODY_DUNDER_NAMES = frozenset({"__slots__", "__match_args__"})  # positional reads are vetted by _match

#: namedtuple's public-but-underscored API.
NAMEDTUPLE_NAMES = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})

#: Public names whose meaning depends on the object (str.format and friends).
RUNTIME_CHECKED_NAMES = frozenset({"format", "format_map", "Formatter", "vformat", "get_field", "get_value"})

#: Public names that may hold a metaclass (``abc.ABCMeta``, ``enum.EnumType``): vetted at run time.
METACLASS_NAME = re.compile(r".*(Meta|Type|Metaclass|MetaClass)\Z")

_PRIVATE_NAME = re.compile(r"_[A-Za-z0-9]\w*\Z")
_GENERATED_NAME = re.compile(r"_tmp\d+\Z|_print\Z")


def is_private_name(name: str) -> bool:
    """``_balance`` yes; ``__x``, ``_getattr_`` (guards end in ``_``) and generated names no."""
    return bool(_PRIVATE_NAME.match(name)) and not name.endswith("_") and not _GENERATED_NAME.match(name)


def is_user_name(name: str) -> bool:
    """A global the conversation's own code made (``total``, ``_cache``), which is versioned.

    Not the guards' names, generated names or dunders the interpreter keeps in the namespace.
    """
    return not name.startswith("_") or is_private_name(name)


def mangle(name: str, class_name: str | None) -> str:
    """Apply CPython's private-name mangling so runtime guards see the stored name."""
    if class_name is None or not name.startswith("__") or name.endswith("__"):
        return name
    stripped = class_name.lstrip("_")
    return f"_{stripped}{name}" if stripped else name
