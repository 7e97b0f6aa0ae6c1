"""Class patterns (``case C(a, b)``) under the sandbox's attribute policy.

A class pattern reads attributes of the subject natively: keyword sub-patterns
read the names written in the pattern (checked at compile time like ``x.name``),
but positional sub-patterns read the names listed in ``C.__match_args__``, which
the sandbox controls only indirectly (dataclass and namedtuple field names), and
``abc.ABC.register`` makes ``isinstance`` true for any type.  So a dataclass with a
field ``gi_frame`` registered for the generator type read a generator's frame.

The transformer therefore rewrites every class pattern that has positional
sub-patterns, or keyword names whose safety depends on the object
(``format``, ``...Meta``), to match against a *proxy* class made here.  The
proxy's metaclass answers ``isinstance`` for the real class and serves
``__match_args__`` from a property that CPython reads at match time, right
after the ``isinstance`` check: it checks every name against the same policy
as attribute access, for that subject, with no user code in between.
"""

from __future__ import annotations

import typing
import weakref

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from envloop.sandbox.rules import METACLASS_NAME, NAMEDTUPLE_NAMES, RUNTIME_CHECKED_NAMES

#: CPython's ``_Py_TPFLAGS_MATCH_SELF``: ``case int(x)`` binds the subject itself.
MATCH_SELF = 1 << 22
_HEAPTYPE = 1 << 9

OwnPrivate = typing.Callable[[object, str], bool]


class _ProxyMeta(type):
    """Metaclass of match proxies: ``isinstance`` for the real class, vetted ``__match_args__``."""

    _real: type
    _npos: int
    _kw: tuple[str, ...]
    _own_private: OwnPrivate
    _subject: typing.Any

    def __instancecheck__(cls, subject: object) -> bool:
        cls._subject = None
        answer = isinstance(subject, cls._real)
        if answer:
            cls._subject = subject  # read by __match_args__ right after, with no user code between
        return answer

    @property
    def __match_args__(cls) -> tuple[str, ...]:
        subject, cls._subject = cls._subject, None
        names = cls._kw
        if cls._npos:
            real = cls._real
            try:
                args = real.__match_args__  # type: ignore[attr-defined]
            except AttributeError:
                if not cls._kw:
                    raise  # CPython then applies the "match self" rule of int, str ...
                if real.__flags__ & MATCH_SELF:
                    raise TypeError(f"{real.__name__}() with a positional and a keyword sub-pattern "
                                    "naming this attribute is not supported in the sandbox") from None
                args = ()
            if type(args) is not tuple:
                raise TypeError(f"{real.__name__}.__match_args__ must be a tuple (got {type(args).__name__})")
            if len(args) < cls._npos:
                plural = "" if len(args) == 1 else "s"
                raise TypeError(f"{real.__name__}() accepts {len(args)} positional sub-pattern{plural} "
                                f"({cls._npos} given)")
            names = args[: cls._npos] + cls._kw
        for name in names:
            _check_name(subject, name, cls._own_private)
        return names


def _check_name(subject: object, name: object, own_private: OwnPrivate) -> None:
    """The attribute policy for a name a class pattern is about to read natively from ``subject``."""
    if type(name) is not str:
        raise TypeError(f"__match_args__ elements must be strings (got {type(name).__name__})")
    why = ""
    if name.endswith("__roles__") or name in INSPECT_ATTRIBUTES or name in RUNTIME_CHECKED_NAMES:
        why = " (a class pattern may not read it)"
    elif name.startswith("_") and name != "_":
        dunder = name.startswith("__") and name.endswith("__")
        if dunder or not (own_private(subject, name) or name in NAMEDTUPLE_NAMES):
            why = " (private attributes only on the conversation's own classes)"
    elif METACLASS_NAME.match(name):
        value = getattr(subject, name, None)
        if isinstance(value, type) and issubclass(value, type):
            why = " (a metaclass)"
    else:
        return
    if why:  # not AttributeError: CPython would read that as "no __match_args__" and match the subject
        raise TypeError(f'"{name}" is not accessible in the sandbox{why}')


class MatchClasses:
    """Hands out the class a rewritten class pattern matches against (``_match_class_``)."""

    def __init__(self, own_private: OwnPrivate) -> None:
        self._own_private = own_private
        self._cache: weakref.WeakKeyDictionary[type, dict[tuple[int, tuple[str, ...]], type]] = (
            weakref.WeakKeyDictionary())

    def __call__(self, cls: typing.Any, npos: int, kw: tuple[str, ...]) -> type:
        """The real class when nothing can go wrong, else a (cached) proxy of it."""
        if not isinstance(cls, type):
            raise TypeError("called match pattern must be a class")
        if not kw and not cls.__flags__ & _HEAPTYPE and npos <= 1 and cls.__flags__ & MATCH_SELF \
                and not hasattr(cls, "__match_args__"):
            return cls  # `case int(n)`: binds the subject itself, and a builtin type never changes
        per_class = self._cache.get(cls)
        if per_class is None:
            per_class = self._cache[cls] = {}
        proxy = per_class.get((npos, kw))
        if proxy is None:
            proxy = per_class[(npos, kw)] = self._proxy(cls, npos, kw)
        return proxy

    def forget(self, cls: type) -> None:
        """Drop the proxies of ``cls`` (they refer to it: a class nothing else uses can then go)."""
        self._cache.pop(cls, None)

    def _proxy(self, cls: type, npos: int, kw: tuple[str, ...]) -> type:
        base = next((b for b in cls.__mro__ if b.__flags__ & MATCH_SELF and not b.__flags__ & _HEAPTYPE
                     and b is not bool), object)
        proxy = _ProxyMeta(cls.__name__, (base,), {"__qualname__": cls.__qualname__, "__slots__": ()})
        proxy._real, proxy._npos, proxy._kw = cls, npos, kw
        proxy._own_private, proxy._subject = self._own_private, None
        return proxy
