"""What a block did, as plain data, and the checks that turn a worker's result frame into it.

Nothing the worker sends is evaluated: frames are JSON, and every field is
checked here (``type(x) is str``) before it becomes a :class:`RunResult`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TRUNCATED", "RunResult", "to_result"]

TRUNCATED = "\n… [output truncated]"
_WORKER_LIMITS = frozenset({None, "output", "memory"})


@dataclass(frozen=True)
class RunResult:
    """What one block did, as plain data.

    ``limit`` is None, "timeout", "memory", "output" or "crash"; after
    "timeout", "crash" and a fatal "memory" the worker was replaced and its
    namespace is gone (``Sandbox.restarts`` counts that).
    """

    ok: bool
    stdout: str
    result: str | None
    error: dict[str, Any] | None
    limit: str | None
    bound: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    duration_ms: float = 0.0
    changes: tuple[dict[str, Any], ...] = ()  # versioning: names whose stored state changed
    report: dict[str, Any] | None = None  # the worker's account of a ``restore``
    #: Per top-level statement that ran: the globals the conversation's functions it called read
    #: (envloop.sandbox.tracing); None when the worker sent no trace.
    trace: tuple[tuple[str, ...], ...] | None = None


def _names(value: Any) -> tuple[str, ...]:
    """A list of names from the worker, checked to be exactly that."""
    if type(value) is not list or any(type(name) is not str for name in value):
        raise TypeError("names must be a list of str")
    return tuple(value)


def to_result(frame: dict[str, Any], output_cap: int) -> RunResult:
    """Check a result frame field by field and build the :class:`RunResult`."""
    ok, stdout, result, error, limit = (frame.get(key) for key in
                                        ("ok", "stdout", "result", "error", "limit"))
    duration = frame.get("duration_ms", 0.0)
    if type(ok) is not bool or type(stdout) is not str or limit not in _WORKER_LIMITS:
        raise TypeError("malformed result")
    if result is not None and type(result) is not str:
        raise TypeError("malformed result preview")
    if type(duration) not in (int, float):
        raise TypeError("malformed duration")
    if error is not None:
        if (type(error) is not dict or type(error.get("type")) is not str
                or type(error.get("message")) is not str
                or type(error.get("line")) not in (int, type(None))):
            raise TypeError("malformed error")
        error = {"type": error["type"][:200], "message": error["message"][:4000],
                 "line": error.get("line"), "frames": _frames(error.get("frames", []))}
    if len(stdout) > output_cap + len(TRUNCATED):
        stdout = stdout[:output_cap] + TRUNCATED
        limit = limit or "output"
    return RunResult(ok=ok, stdout=stdout, result=result, error=error, limit=limit,
                     bound=_names(frame.get("bound", [])), deleted=_names(frame.get("deleted", [])),
                     read=_names(frame.get("read", [])), duration_ms=float(duration),
                     changes=_changes(frame.get("changes", [])), report=_report(frame.get("report")),
                     trace=_trace(frame.get("trace")))


def _trace(value: Any) -> tuple[tuple[str, ...], ...] | None:
    if value is None:
        return None
    if type(value) is not list:
        raise TypeError("a trace must be a list")
    return tuple(_names(names) for names in value)


def _frames(value: Any) -> list[dict[str, Any]]:
    """The traceback frames of the conversation's own code (envloop.sandbox.frames), checked and capped."""
    if type(value) is not list or len(value) > 16:
        raise TypeError("malformed frames")
    frames = []
    for frame in value:
        if (type(frame) is not dict or type(frame.get("where")) is not str or type(frame.get("text")) is not str
                or type(frame.get("line")) not in (int, type(None))):
            raise TypeError("malformed frame")
        frames.append({"where": frame["where"][:200], "line": frame["line"], "text": frame["text"][:400]})
    return frames


def _changes(value: Any) -> tuple[dict[str, Any], ...]:
    """Change records from the worker: JSON objects, each with a str name and a known kind."""
    kinds = {"value", "function", "class", "import", "deleted"}
    if type(value) is not list:
        raise TypeError("changes must be a list")
    for change in value:
        if type(change) is not dict or type(change.get("name")) is not str or change.get("kind") not in kinds:
            raise TypeError("malformed change")
        chunks = change.get("chunks", [])
        if type(chunks) is not list or any(type(d) is not str or len(d) != 64 for d in chunks):
            raise TypeError("malformed chunks")  # digests of chunks that crossed before the result
    return tuple(value)


def _report(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if (type(value) is not dict or type(value.get("restored")) is not list
            or type(value.get("failed")) is not list):
        raise TypeError("malformed restore report")
    return value
