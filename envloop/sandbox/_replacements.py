"""Hand-written stand-ins for the few stdlib callables that are unsafe as shipped.

Each one here replaces a function or class whose original can reach objects the
sandbox must never name, or writes around the sandbox's output:

* ``string.Formatter`` resolves ``{0.attr}`` fields with an unguarded ``getattr``
  (CVE-2023-41039, GHSA-hp3v-5vw7-fx9w): :class:`Formatter` re-implements it with
  a field resolver that refuses ``_private`` and inspect attribute names.  It does
  *not* subclass ``string.Formatter``: two-argument ``super(Formatter, f)`` would
  otherwise lead straight back to the unguarded original.
* ``functools.wraps``/``update_wrapper`` take arbitrary attribute names to copy,
  which makes them a ``getattr`` with a caller-chosen name: only the default names
  are accepted.
* ``hashlib.new`` would open any OpenSSL algorithm; only the guaranteed ones are.
* ``pprint.pprint`` and ``calendar.prmonth``/``prcal`` write to ``sys.stdout``
  directly; they go through :func:`emit`, which the interpreter can point at the
  block's output buffer with :func:`set_output`.

Nothing in this module stores a module object in a public attribute of anything
it returns; the reachability test in ``tests/test_modules_reachability.py`` checks.
"""

from __future__ import annotations

import _string
import calendar as _calendar
import dataclasses as _dataclasses
import functools as _functools
import hashlib as _hashlib
import keyword as _keyword
import pprint as _pprint
import sys as _sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

if TYPE_CHECKING:
    from types import FrameType

_output: list[Callable[[str], Any] | None] = [None]


def set_output(write: Callable[[str], Any] | None) -> None:
    """Send text written by pprint/calendar printers to ``write``.

    ``None`` (the default) means: the print of the sandbox that called, see
    :func:`emit`.  Tests and embedders may pin a writer instead.
    """
    _output[0] = write


def emit(text: str) -> None:
    """Write ``text`` where the calling sandbox's ``print`` writes.

    The sandbox's print is the ``_print_`` entry of its builtins (envloop's
    policy gives it ``print``'s signature and the block's output buffer).  The
    nearest frame whose builtins hold one is the sandboxed caller; stdlib frames
    run with the real builtins, which have none.  Found per call, so several
    interpreters in one process each get their own output.
    """
    write = _output[0]
    if write is not None:
        write(text)
        return
    frame: FrameType | None = _sys._getframe(1)
    while frame is not None:
        sandbox_print = frame.f_builtins.get("_print_")
        if callable(sandbox_print):
            sandbox_print(text, end="")
            return
        frame = frame.f_back
    _sys.stdout.write(text)


# ------------------------------------------------------------------------- contextlib


class redirect_stdout:  # the stdlib's (lower-case) name
    """``contextlib.redirect_stdout`` for the sandbox: the block's ``print`` writes to the target.

    The real one swaps ``sys.stdout`` for the whole process; the sandbox's print
    never writes there, so it would capture nothing (and ``sys`` is not the block's
    to change).  Nested redirects and a target's own ``write`` work as in CPython.
    """

    def __init__(self, new_target: Any) -> None:
        self._new_target = new_target
        self._outputs: list[Any] = []

    def __enter__(self) -> Any:
        output = getattr(_sandbox_builtin("_print_"), "_output", None)
        if output is not None:
            output.redirects.append(self._new_target)
        self._outputs.append(output)
        return self._new_target

    def __exit__(self, *exc: object) -> None:
        output = self._outputs.pop()
        if output is not None and output.redirects:
            output.redirects.pop()


class redirect_stderr(redirect_stdout):
    """``contextlib.redirect_stderr``: nothing in the sandbox writes to stderr, so it captures nothing."""

    def __enter__(self) -> Any:
        self._outputs.append(None)
        return self._new_target


def _sandbox_builtin(name: str) -> Any:
    """The calling sandbox's builtin ``name`` (``_print_``, ``_getattr_`` ...), or None outside one."""
    frame: FrameType | None = _sys._getframe(2)
    while frame is not None:
        found = frame.f_builtins.get(name)
        if found is not None:
            return found
        frame = frame.f_back
    return None


# --------------------------------------------------------------------------- format


def _sandbox_getattr() -> Callable[[Any, str], Any]:
    """The calling sandbox's ``getattr`` guard (found like :func:`emit` finds its print).

    Outside any sandbox frame (host-side tests) a plain ``getattr`` after
    :func:`check_format_attribute` is what remains.
    """
    frame: FrameType | None = _sys._getframe(2)
    while frame is not None:
        guard = frame.f_builtins.get("_getattr_")
        if callable(guard):
            return guard  # type: ignore[no-any-return]
        frame = frame.f_back
    return getattr


def check_format_attribute(obj: object, name: str) -> None:
    """Refuse the attribute names a format field may not follow.

    The same names the compile-time attribute check refuses: anything starting
    with an underscore (dunders, privates) and the frame/code/generator
    attributes RestrictedPython lists in ``INSPECT_ATTRIBUTES``.
    """
    if name.startswith("_") or name in INSPECT_ATTRIBUTES:
        raise AttributeError(
            f"format field attribute {name!r} is not allowed in the sandbox", name=name
        )


class Formatter:
    """``string.Formatter`` with guarded field resolution (same public API).

    Why not a subclass: see the module docstring.  The algorithm mirrors
    CPython's ``string.Formatter.vformat`` so output is identical.
    """

    def format(self, format_string: str, /, *args: Any, **kwargs: Any) -> str:
        return self.vformat(format_string, args, kwargs)

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        used_args: set[Any] = set()
        result, _ = self._vformat(format_string, args, kwargs, used_args, 2)
        self.check_unused_args(used_args, args, kwargs)
        return str(result)

    def _vformat(self, format_string: str, args: Any, kwargs: Any, used_args: set[Any],
                 recursion_depth: int, auto_arg_index: int = 0) -> tuple[str, int]:
        if recursion_depth < 0:
            raise ValueError("Max string recursion exceeded")
        result = []
        for literal_text, field_name, format_spec, conversion in self.parse(format_string):
            if literal_text:
                result.append(literal_text)
            if field_name is None:
                continue
            if field_name == "":
                if auto_arg_index is False:
                    raise ValueError(
                        "cannot switch from manual field specification to automatic field numbering"
                    )
                field_name = str(auto_arg_index)
                auto_arg_index += 1
            elif field_name.isdigit():
                if auto_arg_index:
                    raise ValueError(
                        "cannot switch from manual field specification to automatic field numbering"
                    )
                auto_arg_index = False
            obj, arg_used = self.get_field(field_name, args, kwargs)
            used_args.add(arg_used)
            obj = self.convert_field(obj, conversion)
            format_spec, auto_arg_index = self._vformat(
                format_spec, args, kwargs, used_args, recursion_depth - 1, auto_arg_index
            )
            result.append(self.format_field(obj, format_spec))
        return "".join(result), auto_arg_index

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        if isinstance(key, int):
            return args[key]
        return kwargs[key]

    def check_unused_args(self, used_args: Any, args: Any, kwargs: Any) -> None:
        pass

    def format_field(self, value: Any, format_spec: str) -> str:
        return format(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is None:
            return value
        if conversion == "s":
            return str(value)
        if conversion == "r":
            return repr(value)
        if conversion == "a":
            return ascii(value)
        raise ValueError(f"Unknown conversion specifier {conversion!s}")

    def parse(self, format_string: str) -> Any:
        return _string.formatter_parser(format_string)

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        lookup = None
        for is_attr, key in rest:
            if is_attr:
                check_format_attribute(obj, key)
                lookup = lookup or _sandbox_getattr()
                obj = lookup(obj, key)  # the sandbox's own policy: `format` comes back guarded
            else:
                obj = obj[key]
        return obj, first


class _MappingArgs:
    """The ``kwargs`` of ``format_map``: looks keys up lazily, as str.format_map does."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: Any) -> None:
        self._mapping = mapping

    def __getitem__(self, key: Any) -> Any:
        return self._mapping[key]


_FORMATTER = Formatter()


def safe_format(format_string: str, /, *args: Any, **kwargs: Any) -> str:
    """``format_string.format(*args, **kwargs)`` with guarded field attributes."""
    return _FORMATTER.vformat(format_string, args, kwargs)


def safe_format_map(format_string: str, mapping: Any) -> str:
    """``format_string.format_map(mapping)`` with guarded field attributes."""
    return _FORMATTER.vformat(format_string, (), _MappingArgs(mapping))


# -------------------------------------------------------------------------- functools


def _check_wrapper_names(assigned: Any, updated: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Only the default attribute names: anything else turns wraps into getattr()."""
    assigned, updated = tuple(assigned), tuple(updated)
    bad = [n for n in assigned if n not in _functools.WRAPPER_ASSIGNMENTS]
    bad += [n for n in updated if n not in _functools.WRAPPER_UPDATES]
    if bad:
        raise ValueError(f"functools.wraps: attribute names {bad!r} are not allowed in the sandbox")
    return assigned, updated


def update_wrapper(
    wrapper: Any,
    wrapped: Any,
    assigned: Any = _functools.WRAPPER_ASSIGNMENTS,
    updated: Any = _functools.WRAPPER_UPDATES,
) -> Any:
    """``functools.update_wrapper`` restricted to the default attribute names."""
    assigned, updated = _check_wrapper_names(assigned, updated)
    return _functools.update_wrapper(wrapper, wrapped, assigned, updated)


def wraps(
    wrapped: Any,
    assigned: Any = _functools.WRAPPER_ASSIGNMENTS,
    updated: Any = _functools.WRAPPER_UPDATES,
) -> Any:
    """``functools.wraps`` restricted to the default attribute names."""
    assigned, updated = _check_wrapper_names(assigned, updated)
    return _functools.partial(update_wrapper, wrapped=wrapped, assigned=assigned, updated=updated)


# ------------------------------------------------------------------------ dataclasses


def _check_field_name(cls: type, name: object) -> None:
    if type(name) is not str or not name.isidentifier() or _keyword.iskeyword(name):
        raise TypeError(f"dataclass {cls.__name__}: field name {name!r} is not an identifier")


def check_dataclass_names(cls: type) -> None:
    """Refuse a class whose field names are not plain identifiers.

    ``dataclasses`` pastes every field name (own annotations and the ``Field.name``
    of each base's fields) into source it compiles with ``exec``, in the real
    globals of ``cls.__module__``: a crafted name there is code.
    """
    for klass in cls.__mro__:
        own = vars(klass)
        for name in own.get("__annotations__", {}) if isinstance(own.get("__annotations__"), dict) else ():
            _check_field_name(cls, name)
        fields = own.get("__dataclass_fields__")
        for key, field in fields.items() if isinstance(fields, dict) else ():
            _check_field_name(cls, key)
            _check_field_name(cls, getattr(field, "name", key))


def dataclass(cls: Any = None, /, **kwargs: Any) -> Any:
    """``dataclasses.dataclass`` that first checks the names it will compile (see above)."""

    def wrap(cls: Any) -> Any:
        if isinstance(cls, type):
            check_dataclass_names(cls)
        return _dataclasses.dataclass(cls, **kwargs)

    return wrap if cls is None else wrap(cls)


# ---------------------------------------------------------------------------- hashlib


def hashlib_new(name: str, data: bytes = b"", **kwargs: Any) -> Any:
    """``hashlib.new`` limited to ``hashlib.algorithms_guaranteed``."""
    if type(name) is not str or name.lower() not in _hashlib.algorithms_guaranteed:
        raise ValueError(f"unsupported hash type {name}")
    return _hashlib.new(name, data, **kwargs)


# ------------------------------------------------------------------ printing helpers


def pprint(
    object: Any,
    stream: Any = None,
    indent: int = 1,
    width: int = 80,
    depth: int | None = None,
    *,
    compact: bool = False,
    sort_dicts: bool = True,
    underscore_numbers: bool = False,
) -> None:
    """``pprint.pprint`` that prints through the sandbox's output."""
    text = _pprint.pformat(
        object,
        indent=indent,
        width=width,
        depth=depth,
        compact=compact,
        sort_dicts=sort_dicts,
        underscore_numbers=underscore_numbers,
    )
    if stream is None:
        emit(text + "\n")
    else:
        stream.write(text + "\n")


def pp(object: Any, *args: Any, sort_dicts: bool = False, **kwargs: Any) -> None:
    """``pprint.pp``: pprint without sorting dict keys."""
    pprint(object, *args, sort_dicts=sort_dicts, **kwargs)


class TextCalendar(_calendar.TextCalendar):
    """``calendar.TextCalendar`` whose pr* methods print through the sandbox's output."""

    def prweek(self, theweek: Any, width: int) -> None:
        emit(self.formatweek(theweek, width))

    def prmonth(self, theyear: int, themonth: int, w: int = 0, l: int = 0) -> None:  # noqa: E741
        emit(self.formatmonth(theyear, themonth, w, l))

    def pryear(self, theyear: int, w: int = 2, l: int = 1, c: int = 6, m: int = 3) -> None:  # noqa: E741
        emit(self.formatyear(theyear, w, l, c, m))


def prmonth(theyear: int, themonth: int, w: int = 0, l: int = 0) -> None:  # noqa: E741
    """``calendar.prmonth`` through the sandbox's output."""
    emit(_calendar.month(theyear, themonth, w, l))


def prcal(theyear: int, w: int = 0, l: int = 0, c: int = 6, m: int = 3) -> None:  # noqa: E741
    """``calendar.prcal`` through the sandbox's output."""
    emit(_calendar.calendar(theyear, w, l, c, m))
