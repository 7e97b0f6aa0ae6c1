"""``str.format`` and friends under the sandbox's attribute policy (the historical RestrictedPython CVE).

A format field walks attributes (``'{0.__globals__}'.format(f)``) with an unguarded
``getattr`` inside C code.  :class:`FormatGuards` hands the sandbox versions of
``str.format``/``format_map`` (bound or not, also ``UserString``'s, which call
``self.data.format`` natively) that resolve every field attribute through the
guards' ``lookup``; plain fields (no attribute walk) keep the C fast path.
"""

from __future__ import annotations

import _string
import collections
import string
import types
import typing

_STR_FORMAT = str.format
_STR_FORMAT_MAP = str.format_map
_USERSTRING_FORMAT = collections.UserString.format
_USERSTRING_FORMAT_MAP = collections.UserString.format_map


def refused(name: str, why: str = "") -> AttributeError:
    """The one error every refused attribute raises (no ``obj`` attached: nothing to pick up)."""
    return AttributeError(f'"{name}" is not accessible in the sandbox{why}')


def _plain_fields(fmt: str) -> bool:
    """True when no replacement field (nor a nested spec) walks an attribute."""
    for _literal, field, spec, _conv in _string.formatter_parser(fmt):
        if field and "." in field:
            return False
        if spec and "{" in spec and not _plain_fields(spec):
            return False
    return True


class FormatGuards:
    """The format half of :class:`~envloop.sandbox.guards.Guards` (which provides ``lookup``)."""

    _plain_cache: dict[str, bool]
    formatter: GuardedFormatter

    def lookup(self, obj: typing.Any, name: str) -> typing.Any:
        raise NotImplementedError

    def _format_method(self, obj: typing.Any, name: str, value: typing.Any) -> typing.Any:
        if value is _STR_FORMAT:
            return self.str_format
        if value is _STR_FORMAT_MAP:
            return self.str_format_map
        owner = getattr(value, "__self__", None) if type(value) is types.BuiltinMethodType else None
        if isinstance(owner, str):
            return self._bound_format(owner, name)
        if isinstance(owner, string.Formatter):
            raise refused(name, " (string.Formatter walks attributes unchecked)")
        func = getattr(value, "__func__", value)
        if func is _USERSTRING_FORMAT or func is _USERSTRING_FORMAT_MAP:
            return self._userstring_format(getattr(value, "__self__", None), func is _USERSTRING_FORMAT)
        return value

    def _userstring_format(self, bound: typing.Any, plain: bool) -> typing.Callable[..., str]:
        """``UserString.format`` calls ``self.data.format`` natively: route it through the guard."""
        def format(*args: typing.Any, **kwargs: typing.Any) -> str:
            this, rest = (bound, args) if bound is not None else (args[0], args[1:])
            if plain:
                return self.str_format(this.data, *rest, **kwargs)
            return self.str_format_map(this.data, *rest)
        return format

    def _is_plain(self, fmt: str) -> bool:
        cache = self._plain_cache
        plain = cache.get(fmt)
        if plain is None:
            try:
                plain = _plain_fields(fmt)
            except (ValueError, TypeError):
                plain = False
            if len(cache) > 4096:
                cache.clear()
            cache[fmt] = plain
        return plain

    def str_format(self, fmt: str, /, *args: typing.Any, **kwargs: typing.Any) -> str:
        """``str.format`` that walks attributes through :meth:`lookup`."""
        if not isinstance(fmt, str):
            raise TypeError("descriptor 'format' requires a 'str' object")
        if type(fmt) is not str:  # a subclass could lie to the cache through __hash__/__eq__
            fmt = str.__str__(fmt)
        if self._is_plain(fmt):
            return _STR_FORMAT(fmt, *args, **kwargs)
        return self.formatter.vformat(fmt, args, kwargs)

    def str_format_map(self, fmt: str, mapping: typing.Any, /) -> str:
        """``str.format_map`` that walks attributes through :meth:`lookup`."""
        if not isinstance(fmt, str):
            raise TypeError("descriptor 'format_map' requires a 'str' object")
        if type(fmt) is not str:
            fmt = str.__str__(fmt)
        if self._is_plain(fmt):
            return _STR_FORMAT_MAP(fmt, mapping)
        return self.formatter.vformat(fmt, (), mapping)

    def _bound_format(self, fmt: str, name: str) -> typing.Callable[..., str]:
        if name == "format":
            def format(*args: typing.Any, **kwargs: typing.Any) -> str:
                return self.str_format(fmt, *args, **kwargs)
            return format

        def format_map(mapping: typing.Any, /) -> str:
            return self.str_format_map(fmt, mapping)
        return format_map


class GuardedFormatter(string.Formatter):
    """``string.Formatter`` whose field walk uses the sandbox's attribute policy.

    Never handed to the sandbox (its public methods would be writable there).
    """

    def __init__(self, lookup: typing.Callable[[typing.Any, str], typing.Any]) -> None:
        self._lookup = lookup

    def get_field(self, field_name: str, args: typing.Sequence[typing.Any],
                  kwargs: typing.Mapping[str, typing.Any]) -> tuple[typing.Any, typing.Any]:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = self._lookup(obj, key) if is_attr else obj[key]
        return obj, first

    def check_unused_args(self, used_args: typing.Any, args: typing.Any, kwargs: typing.Any) -> None:
        """``str.format`` ignores unused arguments too."""
