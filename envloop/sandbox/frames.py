"""Tracebacks of the conversation's own code: where in its blocks and functions an error happened.

A model told ``ZeroDivisionError (line 1)`` cannot tell whether line 1 is in
the block it just wrote or inside a helper it defined two turns ago, so each
error carries the chain of frames that belong to the conversation's code:
the block itself (``<block>``) and every function, method or comprehension a
block defined, each with its line number and that line's text.  Frames of
anything else (guards, import facades, extension stubs, the worker) are never
reported: their file names are host paths, and they are not the model's code.

Runs inside the worker; imported by the interpreter when the template starts
(the seccomp filter later forbids opening files, so nothing here imports
lazily).  Everything returned is plain data.
"""

from __future__ import annotations

from types import CodeType, TracebackType
from typing import Any

from envloop.sandbox.tracing import ByCode, twin_of

__all__ = ["SourceMap", "user_frames"]

#: Frames reported per error: the outermost two and the innermost rest (recursion stays short).
MAX_FRAMES = 8
#: Characters of one source line in a frame.
LINE_CAP = 160


class SourceMap:
    """The source lines behind every live code object compiled from a block.

    Code objects are keyed by identity and held weakly: an entry goes when its
    code dies (a past block's comprehension, a function redefined), so the map
    holds what can still run -- a function defined long ago stays listed as
    long as it exists -- and a worker's memory does not grow with every block.
    An id is never stale: the entry goes with its code.  The current block's
    top-level code is replaced on each run; past ``capacity`` live codes, the
    oldest are dropped first.
    """

    def __init__(self, filename: str, capacity: int = 20_000) -> None:
        self.filename = filename
        self.capacity = capacity
        self._codes: ByCode[list[str]] = ByCode()  # code -> its block's lines
        self._top: list[int] = []

    def __len__(self) -> int:
        return len(self._codes)

    def register(self, source: str, *codes: CodeType | None) -> None:
        """Remember the lines of ``codes`` (a block's exec and eval code) and of everything nested in them."""
        for key in self._top:
            self._codes.pop(key)
        self._top = [id(code) for code in codes if code is not None]
        self.add(source, *codes)

    def add(self, source: str, *codes: CodeType | None) -> None:
        """Remember ``codes`` and their nested code, leaving the current block's alone (a restored definition)."""
        lines = source.splitlines()
        for code in codes:
            if code is None:
                continue
            stack = [code]
            while stack:
                current = stack.pop()
                self._codes.set(current, lines)
                twin = twin_of(current)  # the same function without its trace prologue (envloop.sandbox.tracing)
                if twin is not None:
                    self._codes.set(twin, lines)
                stack.extend(c for c in current.co_consts if isinstance(c, CodeType))
        while len(self._codes) > self.capacity:
            self._codes.drop_oldest()

    def line(self, code: CodeType, lineno: int | None) -> str:
        """The text of ``lineno`` in the block that compiled ``code``; "" when unknown."""
        lines = self._codes.get(code)
        if lines is None or lineno is None or not 0 < lineno <= len(lines):
            return ""
        text = lines[lineno - 1].strip()
        return text if len(text) <= LINE_CAP else text[: LINE_CAP - 1] + "…"


def _where(code: CodeType) -> str:
    """``block`` for a block's top level, else the function's qualified name (``Stack.push``)."""
    if code.co_name == "<module>" or code.co_name == "<expression>":
        return "block"
    name = code.co_qualname if type(code.co_qualname) is str else code.co_name
    return name.replace("<locals>.", "")


def user_frames(exc: BaseException, sources: SourceMap) -> list[dict[str, Any]]:
    """The frames of ``exc``'s traceback that run block code, outermost first, as plain dicts.

    Each is ``{"where": "block" | function name, "line": int | None, "text": str}``.
    Long chains (deep recursion) keep the first two and the last frames.
    """
    frames: list[dict[str, Any]] = []
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == sources.filename:
            line = tb.tb_lineno if type(tb.tb_lineno) is int else None
            frames.append({"where": _where(code), "line": line, "text": sources.line(code, line)})
        tb = tb.tb_next
    if len(frames) > MAX_FRAMES:
        skipped = len(frames) - MAX_FRAMES + 1
        frames = [*frames[:2], {"where": f"… {skipped} more frames", "line": None, "text": ""},
                  *frames[-(MAX_FRAMES - 3):]]
    return frames
