"""Module state the sandbox hands out, versioned under reserved ``@names`` (never Python names).

A block that moves one of these is stored like a name and restored before the
values, so a resume continues where CPython would:

* ``@random``: the ``random`` module's generator (``random.seed(1)`` in one
  block, ``random.random()`` in the next gives CPython's number);
* ``@decimal``: the ``decimal`` context of the thread blocks run in (precision,
  rounding, exponent limits, flags and traps);
* ``@calendar``: ``calendar.setfirstweekday``;
* ``@csv``: dialects registered with ``csv.register_dialect`` and
  ``csv.field_size_limit``.

Not kept (listed in the README's "The sandbox"): ``functools.lru_cache``
statistics and contents (the function is kept by its ``def``; ``vars`` says its
state is not), ``re``'s compiled-pattern cache (a cache only).
"""

from __future__ import annotations

import calendar
import csv
import decimal
import random
from collections.abc import Callable
from typing import Any

__all__ = ["NAMES", "STATES"]

_DIALECT_FIELDS = ("delimiter", "quotechar", "escapechar", "doublequote", "skipinitialspace",
                   "lineterminator", "quoting", "strict")
_SIGNALS = {cls.__name__: cls for cls in (
    decimal.Clamped, decimal.DivisionByZero, decimal.FloatOperation, decimal.Inexact, decimal.InvalidOperation,
    decimal.Overflow, decimal.Rounded, decimal.Subnormal, decimal.Underflow)}


def _random_get() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _random_set(state: list[Any]) -> None:
    random.setstate((state[0], tuple(state[1]), state[2]))


def _decimal_get() -> list[Any]:
    c = decimal.getcontext()
    return [c.prec, c.rounding, c.Emin, c.Emax, c.capitals, c.clamp,
            sorted(n for n, s in _SIGNALS.items() if c.flags[s]), sorted(n for n, s in _SIGNALS.items() if c.traps[s])]


def _decimal_set(state: list[Any]) -> None:
    prec, rounding, emin, emax, capitals, clamp, flags, traps = state
    decimal.setcontext(decimal.Context(
        prec=prec, rounding=rounding, Emin=emin, Emax=emax, capitals=capitals, clamp=clamp,
        flags=[_SIGNALS[n] for n in flags], traps=[_SIGNALS[n] for n in traps]))


def _calendar_get() -> int:
    return calendar.firstweekday()


def _calendar_set(state: int) -> None:
    calendar.setfirstweekday(state)


def _csv_get() -> list[Any]:
    dialects = {name: [getattr(csv.get_dialect(name), f) for f in _DIALECT_FIELDS]
                for name in sorted(csv.list_dialects()) if name not in _BUILTIN_DIALECTS}
    return [csv.field_size_limit(), dialects]


def _csv_set(state: list[Any]) -> None:
    limit, dialects = state
    csv.field_size_limit(limit)
    for name in set(csv.list_dialects()) - _BUILTIN_DIALECTS - set(dialects):
        csv.unregister_dialect(name)
    for name, values in dialects.items():
        csv.register_dialect(name, **dict(zip(_DIALECT_FIELDS, values, strict=True)))


_BUILTIN_DIALECTS = frozenset(csv.list_dialects())

#: reserved name -> (read the state as codec data, set it back, the preview ``vars`` shows)
STATES: dict[str, tuple[Callable[[], Any], Callable[[Any], None], str]] = {
    "@random": (_random_get, _random_set, "<state of the random module>"),
    "@decimal": (_decimal_get, _decimal_set, "<decimal context>"),
    "@calendar": (_calendar_get, _calendar_set, "<calendar first weekday>"),
    "@csv": (_csv_get, _csv_set, "<csv dialects and field size limit>"),
}
NAMES: frozenset[str] = frozenset(STATES)
