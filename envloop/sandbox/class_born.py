"""The conversation's classes: what their statements made, and letting go of those no longer used.

:meth:`envloop.sandbox.snapshot.Snapshotter._class_state` stores a class's
attributes as data; one it cannot store is fine when the class statement
itself made that very object, since running the statement again makes it
again.  So each own class keeps its namespace as the statement left it
(:class:`Born`) -- but not by strong references to what refers back to the
class: its own ``__dict__``, ``__weakref__`` and slot descriptors, and
methods whose ``__class__`` cell (``super()``) holds it.  Those, and the
sets of own classes, made every class ever defined live as long as the
worker: ~9 KB for each redefinition of a class.  :class:`ClassRelease`
lets go of the classes nothing uses any more, between blocks.
"""

from __future__ import annotations

import gc
import types
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Born", "ClassRelease"]

#: Own classes (counted in each set that holds them) before the first release is tried; then
#: twice the number left each time.
RELEASE_FLOOR = 64
_SUSPENDED = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)

_DESCRIPTORS = (types.GetSetDescriptorType, types.MemberDescriptorType)


class Born:
    """A class's namespace as its statement made it: ``key in born``, iteration, and :meth:`made`."""

    __slots__ = ("_made", "body")

    def __init__(self, namespace: Mapping[str, Any], body: types.CodeType | None = None) -> None:
        self._made = {key: _token(value) for key, value in namespace.items()}
        #: The code of the class body (it finds the statement again, see Snapshotter._hide).
        self.body = body

    def __contains__(self, key: object) -> bool:
        return key in self._made

    def __iter__(self) -> Iterator[str]:
        return iter(self._made)

    def made(self, key: str, value: object, cls: type) -> bool:
        """Whether ``value``, now ``cls.<key>``, is the very object the statement made there."""
        token = self._made.get(key)
        return token is not None and token.matches(value, cls)


class _Same:
    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def matches(self, value: object, cls: type) -> bool:
        return value is self.obj


class _Function:
    """A function, weakly; its code strongly -- code refers to no class, and the code index (a weak map
    that finds equal code) recognises a restored method as written here only while this code lives."""

    __slots__ = ("ref", "code")

    def __init__(self, fn: types.FunctionType) -> None:
        self.ref = weakref.ref(fn)
        self.code = fn.__code__

    def matches(self, value: object, cls: type) -> bool:
        return value is not None and self.ref() is value


class _Wrapper:
    """A ``classmethod`` or ``staticmethod`` (not weakly referable) of a function: its kind and function."""

    __slots__ = ("kind", "function")

    def __init__(self, kind: type, fn: types.FunctionType) -> None:
        self.kind, self.function = kind, _Function(fn)

    def matches(self, value: object, cls: type) -> bool:
        return type(value) is self.kind and self.function.matches(getattr(value, "__func__", None), cls)


class _Property:
    __slots__ = ("parts",)

    def __init__(self, value: property) -> None:
        self.parts = tuple(_token(part) for part in (value.fget, value.fset, value.fdel))

    def matches(self, value: object, cls: type) -> bool:
        return type(value) is property and all(
            token.matches(part, cls) for token, part in zip(self.parts, (value.fget, value.fset, value.fdel), strict=True))


class _Descriptor:
    """The class's own ``__dict__``/``__weakref__``/slot descriptor (each refers to the class)."""

    __slots__ = ("kind",)

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def matches(self, value: object, cls: type) -> bool:
        return type(value) is self.kind and getattr(value, "__objclass__", None) is cls


def _token(value: object) -> _Same | _Function | _Wrapper | _Property | _Descriptor:
    kind = type(value)
    if kind is types.FunctionType:
        return _Function(value)  # type: ignore[arg-type]
    if kind in (classmethod, staticmethod) and type(value.__func__) is types.FunctionType:  # type: ignore[attr-defined]
        return _Wrapper(kind, value.__func__)  # type: ignore[attr-defined]
    if kind is property:
        return _Property(value)  # type: ignore[arg-type]
    if kind in _DESCRIPTORS:
        return _Descriptor(kind)
    return _Same(value)


class ClassRelease:
    """Lets go of the conversation's classes that nothing refers to any more.

    The guards ask ``type(obj) in own_classes`` at C speed, so the own classes
    are plain sets, and a set keeps every class a block ever made: a class
    redefined a thousand times stayed a thousand times.  When their number has
    doubled since the last release, those no name holds are taken out of the
    sets and the garbage collector runs: the ones something still refers to
    (an old instance, a subclass, a container) are put back, the rest are gone.
    Called between blocks (after the result is sent), so no block's code runs
    meanwhile; a class whose freeing could run code while it is out (it or a
    base has ``__del__``, it holds a suspended generator) is left alone.
    """

    def __init__(self, interpreter: Any, made_classes: set[type]) -> None:
        self.interp = interpreter
        self.made = made_classes
        self.at = RELEASE_FLOOR

    def __call__(self) -> int:
        """Release what can go; the number of classes released."""
        own, plain, made = self.interp.own_classes, self.interp.plain_own_classes, self.made
        if len(own) + len(made) < self.at:
            return 0
        named = {id(value) for value in self.interp.namespace.values() if isinstance(value, type)}
        candidates = [cls for cls in own | made if id(cls) not in named and not _may_run_code(cls)]
        self.at = max(RELEASE_FLOOR, 2 * (len(own) + len(made)))
        if not candidates:
            return 0
        gc.collect()  # what is garbage already goes first, with every class still known
        forget = getattr(self.interp.builtins.get("_match_class_"), "forget", None)
        held = [(weakref.ref(cls), cls in own, cls in plain, cls in made) for cls in candidates]
        for cls in candidates:
            own.discard(cls)
            plain.discard(cls)
            made.discard(cls)
            if forget is not None:
                forget(cls)
        del candidates, cls
        gc.collect()
        released = 0
        for ref, was_own, was_plain, was_made in held:
            back = ref()
            if back is None:
                released += 1
                continue
            if was_own:
                own.add(back)
            if was_plain:
                plain.add(back)
            if was_made:
                made.add(back)
        self.at = max(RELEASE_FLOOR, 2 * (len(own) + len(made)))
        return released


def _may_run_code(cls: type) -> bool:
    """Whether freeing ``cls`` could run the conversation's code (a finalizer, a generator's ``finally``)."""
    return any("__del__" in vars(k) for k in cls.__mro__ if k is not object) or any(
        isinstance(value, _SUSPENDED) for value in vars(cls).values())
