"""The schema every frame a worker sends is checked against, before the host acts on it.

A worker runs code the conversation wrote; after a policy escape it runs
*anything*, including its own frames.  So the host treats each frame as
hostile input: bounded in size (the reader's cap), bounded in nesting (a
200,000-deep JSON array used to raise ``RecursionError`` out of the host's
receive loop), and checked field by field here: types, numeric ranges,
lengths, and names that can become versions (identifiers only; no dunder,
no guard name such as ``_getattr_``: a version named ``__builtins__`` would
be restored into every later process of the conversation).

An invalid frame raises :class:`InvalidFrame`; the host kills and replaces
the worker and the block reports a clear error, never a traceback and never
a stale result.

Frame types are looked up in :data:`CHECKS`; a module adding frame types
(the chunk stream) registers its own check with :func:`register`.  Frames of
an op nobody registered are invalid.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable
from typing import Any

from envloop.sandbox.protocol import ProtocolError
from envloop.textsafe import unicode_safe

__all__ = ["CHECKS", "MAX_DEPTH", "InvalidFrame", "check_frame", "check_name", "register"]

#: Deepest nesting of lists/dicts a frame may have (results are flat; call arguments are data).
MAX_DEPTH = 64
MAX_NAMES = 20_000  # names a block may report as bound, deleted or read
MAX_TRACE_STATEMENTS = 20_000  # statements in a run-time trace (envloop.sandbox.tracing)
MAX_TRACE_NAMES = 100_000  # names in all of a trace's statements
MAX_NAME = 300  # characters in one name
#: Reserved non-identifier names a change may carry (envloop.sandbox.module_state.NAMES; a test keeps them equal).
MODULE_STATE = frozenset({"@random", "@decimal", "@calendar", "@csv"})
#: A class its name no longer holds (envloop.sandbox._codec_defs.HIDDEN_CLASS): ``@class:P:<digest>[:n]`` (``@class:A.B:...`` for a class nested in A's body).
_HIDDEN_CLASS = re.compile(r"@class:[^\W\d]\w*(?:\.[^\W\d]\w*)*:[0-9a-f]{12}(?::[0-9]+)?")
MAX_LINE = 10_000_000
MAX_TEXT = 1 << 24  # characters in any one string field the host stores or shows

Check = Callable[[dict[str, Any]], None]


class InvalidFrame(ProtocolError):
    """A frame from the worker that does not follow the protocol's schema."""


CHECKS: dict[str, Check] = {}


def register(op: str, check: Check) -> None:
    """Accept frames of ``op`` after ``check(frame)`` (which raises :class:`InvalidFrame`)."""
    CHECKS[op] = check


def check_frame(frame: dict[str, Any]) -> None:
    """Raise :class:`InvalidFrame` unless ``frame`` is a well-formed worker frame.

    Text in a result or a call is also made encodable in place: a lone surrogate a
    block printed (``chr(0xd800)``) is valid in ``str`` and in the JSON escapes of the
    pipe, but no database, terminal or chat accepts it, so it is spelled ``\\ud800``.
    """
    check_depth(frame)
    op = frame.get("op")
    if type(op) is not str:
        raise InvalidFrame("a frame needs a string 'op'")
    check = CHECKS.get(op)
    if check is None:
        raise InvalidFrame(f"unknown frame op {str(op)[:40]!r}")
    for key in _TEXT_FIELDS.get(op, ()):
        if key in frame:
            frame[key] = _encodable(frame[key])
    if op == "result" and type(frame.get("changes")) is list:
        for change in frame["changes"]:
            for key in _CHANGE_TEXT if type(change) is dict else ():
                if key in change:
                    change[key] = _encodable(change[key])
    check(frame)


# Text that reaches people or the database as text (encoded values travel as chunks, untouched).
_TEXT_FIELDS = {"result": ("stdout", "result", "error", "report"), "call": ("args", "kwargs")}
_CHANGE_TEXT = ("preview", "type_name", "lost_reason", "source")


def _encodable(value: Any) -> Any:
    """``value`` with every string's lone surrogates escaped (depth already bounded)."""
    if type(value) is str:
        return unicode_safe(value)
    if type(value) is list:
        return [_encodable(v) for v in value]
    if type(value) is dict:
        return {unicode_safe(k) if type(k) is str else k: _encodable(v) for k, v in value.items()}
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Iteratively refuse lists/dicts nested deeper than ``limit`` (no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InvalidFrame(f"frame nested deeper than {limit} levels")
        if type(item) is dict:
            stack.extend((v, depth + 1) for v in item.values() if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend((v, depth + 1) for v in item if type(v) in (dict, list))


def check_name(name: Any) -> str:
    """A name that may become a version: an identifier, no dunder, no guard or generated name."""
    if type(name) is not str or not 0 < len(name) <= MAX_NAME or not name.isidentifier():
        raise InvalidFrame(f"invalid name {_show(name)}")
    if keyword.iskeyword(name) or (name.startswith("__") and name.endswith("__")) or (
            name.startswith("_") and name.endswith("_")):
        raise InvalidFrame(f"reserved name {_show(name)}")
    return name


def _version_name(name: Any) -> None:
    """A change's name: an identifier, a reserved module-state name (``@random``) or a superseded class's."""
    if type(name) is str and (name in MODULE_STATE or _HIDDEN_CLASS.fullmatch(name) and len(name) <= MAX_NAME):
        return
    check_name(name)


def _show(value: Any) -> str:
    return repr(value)[:60] if type(value) is str else type(value).__name__


def _text(frame: dict[str, Any], key: str, *, optional: bool = True, cap: int = MAX_TEXT) -> None:
    value = frame.get(key)
    if value is None and optional:
        return
    if type(value) is not str or len(value) > cap:
        raise InvalidFrame(f"field {key!r} must be a string of at most {cap} characters")


def _int(value: Any, low: int, high: int, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if type(value) is not int or not low <= value <= high:
        raise InvalidFrame(f"{what} must be an integer in [{low}, {high}]")


def _names(frame: dict[str, Any], key: str) -> None:
    value = frame.get(key, [])
    if type(value) is not list or len(value) > MAX_NAMES:
        raise InvalidFrame(f"{key!r} must be a list of at most {MAX_NAMES} names")
    for name in value:
        check_name(name)


def _trace(value: Any) -> None:
    """Per top-level statement that ran, the names the conversation's functions it called read (or None)."""
    if value is None:
        return
    if type(value) is not list or len(value) > MAX_TRACE_STATEMENTS:
        raise InvalidFrame(f"'trace' must be a list of at most {MAX_TRACE_STATEMENTS} statements")
    total = 0
    for names in value:
        if type(names) is not list:
            raise InvalidFrame("a trace statement must be a list of names")
        total += len(names)
        if total > MAX_TRACE_NAMES:
            raise InvalidFrame(f"a trace may hold at most {MAX_TRACE_NAMES} names")
        for name in names:
            check_name(name)


def _error(value: Any) -> None:
    if value is None:
        return
    if type(value) is not dict:
        raise InvalidFrame("'error' must be an object")
    _text(value, "type", optional=False, cap=200)
    _text(value, "message", optional=False)
    _int(value.get("line"), 0, MAX_LINE, "error line")


def _change(change: Any) -> None:
    if type(change) is not dict:
        raise InvalidFrame("a change must be an object")
    _version_name(change.get("name"))
    for key in ("kind", "source", "preview", "type_name", "lost_reason", "encoding", "digest", "member"):
        _text(change, key, optional=key != "kind")
    content = change.get("content")
    if content is not None and (type(content) is not str or len(content) != 64 or not content.isalnum()):
        raise InvalidFrame("a change's content digest must be 64 hex digits")
    _int(change.get("size"), 0, 1 << 62, "change size")


def _report(value: Any) -> None:
    if value is None:
        return
    if type(value) is not dict or type(value.get("restored")) is not list or type(value.get("failed")) is not list:
        raise InvalidFrame("malformed restore report")
    for name in value["restored"]:
        check_name(name)
    for failure in value["failed"]:
        if type(failure) is not dict:
            raise InvalidFrame("malformed restore failure")
        _version_name(failure.get("name"))
        _text(failure, "error", optional=False)


def check_result(frame: dict[str, Any]) -> None:
    """``{"op": "result", ...}``: see CONTRACT.md; results.to_result then caps and copies it."""
    if type(frame.get("ok")) is not bool:
        raise InvalidFrame("'ok' must be a boolean")
    _text(frame, "stdout", optional=False)
    _text(frame, "result")
    if frame.get("limit") not in (None, "output", "memory"):
        raise InvalidFrame("unknown limit")
    _error(frame.get("error"))
    for key in ("bound", "deleted", "read"):
        _names(frame, key)
    _trace(frame.get("trace"))
    duration = frame.get("duration_ms", 0.0)
    if type(duration) not in (int, float) or not math.isfinite(duration) or duration < 0:
        raise InvalidFrame("'duration_ms' must be a finite, non-negative number")
    changes = frame.get("changes", [])
    if type(changes) is not list or len(changes) > MAX_NAMES:
        raise InvalidFrame("'changes' must be a list")
    for change in changes:
        _change(change)
    _report(frame.get("report"))


def check_call(frame: dict[str, Any]) -> None:
    """``{"op": "call", "id", "fn", "args", "kwargs"}``: an extension call from a block."""
    _int(frame.get("id"), 0, 1 << 53, "call id", optional=False)
    fn = frame.get("fn")
    if type(fn) is not str or not fn.isidentifier() or len(fn) > MAX_NAME:
        raise InvalidFrame("'fn' must be a function name")
    kwargs = frame.get("kwargs")
    if type(frame.get("args")) is not list or type(kwargs) is not dict:
        raise InvalidFrame("'args' must be a list and 'kwargs' an object")
    if any(not key.isidentifier() for key in kwargs):
        raise InvalidFrame("keyword argument names must be identifiers")


def check_ready(frame: dict[str, Any]) -> None:
    """``{"op": "ready", "pid", "seccomp", "seccomp_error", "error"}``: the worker's start-up report."""
    _int(frame.get("pid"), 1, 1 << 22, "pid")
    if type(frame.get("seccomp", False)) is not bool:
        raise InvalidFrame("'seccomp' must be a boolean")
    _text(frame, "seccomp_error", cap=4000)
    _text(frame, "error", cap=4000)


def _pong(frame: dict[str, Any]) -> None:
    """``{"op": "pong"}`` carries nothing."""


def _digests(frame: dict[str, Any]) -> None:
    """``offer``/``want``: content digests of value chunks (see envloop.sandbox.stream)."""
    digests = frame.get("digests")
    if type(digests) is not list or len(digests) > 1 << 20:
        raise InvalidFrame("'digests' must be a list")
    for digest in digests:
        if type(digest) is not str or len(digest) != 64 or not digest.isalnum():
            raise InvalidFrame("a digest must be 64 hexadecimal characters")


def _chunk(frame: dict[str, Any]) -> None:
    """A binary frame the reader turned into ``{"op": "chunk", "data": bytes}``."""
    if type(frame.get("data")) is not bytes:
        raise InvalidFrame("a chunk must carry bytes")


register("offer", _digests)
register("want", _digests)
register("chunk", _chunk)
register("result", check_result)
register("call", check_call)
register("ready", check_ready)
register("pong", _pong)
