"""The in-worker interpreter: one conversation's namespace and the block runner.

Runs inside the worker process (never in the host in production).
:meth:`Interpreter.run` never raises: it catches ``BaseException`` around
compile and exec, because a block may raise ``SystemExit``, catch and re-raise
anything, or exhaust memory, and the worker must still answer the host.  It
returns plain data only (str, int, bool, None, lists and dicts of those), so
the host never has to evaluate an object the sandbox made.
"""

from __future__ import annotations

import reprlib
import typing
import weakref

from envloop.sandbox.class_born import Born
from envloop.sandbox.frames import SourceMap, user_frames
from envloop.sandbox.policy import (
    FILENAME,
    OutputBuffer,
    OutputLimitExceeded,
    compile_block,
    safe_builtins,
)
from envloop.sandbox.rules import is_user_name
from envloop.sandbox.tracing import Tracer

CallHost = typing.Callable[[str, list[typing.Any], dict[str, typing.Any]], object]


def _clip(text: str, cap: int) -> str:
    """Exact ``str`` of at most ``cap`` characters (``repr``/``str`` may return a str subclass)."""
    if type(text) is not str:
        text = str.__str__(text)
    return text if len(text) <= cap else text[: max(cap - 1, 0)] + "…"


def _safe_str(obj: object, cap: int) -> str:
    """``str(obj)`` for an error message; user ``__str__`` may itself raise."""
    try:
        return _clip(str(obj), cap)
    except BaseException:
        return f"<unprintable {type(obj).__name__}>"


def _error_line(exc: BaseException) -> int | None:
    """Line of the innermost traceback frame that belongs to a block.

    A compile-time SyntaxError has no block frame; only then is its own
    ``lineno`` used (a user-raised one could carry any object there).
    """
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(exc, SyntaxError) and type(exc.lineno) is int:
        line = exc.lineno
    return line


class Interpreter:
    """One conversation's namespace and the policy its blocks run under."""

    def __init__(
        self,
        *,
        output_cap: int = 65536,
        result_cap: int = 2000,
        max_source: int = 200_000,
        max_ast_depth: int = 200,
        call_host: CallHost | None = None,
    ) -> None:
        self.output_cap = output_cap
        self.result_cap = result_cap
        self.max_source = max_source
        self.max_ast_depth = max_ast_depth
        self.call_host = call_host
        self.own_classes: set[type] = set()
        self.plain_own_classes: set[type] = set()
        #: Each own class's attributes when its ``class`` statement made it (before decorators).
        self.class_born: weakref.WeakKeyDictionary[type, Born] = weakref.WeakKeyDictionary()
        self.output = OutputBuffer(output_cap)
        self.sources = SourceMap(FILENAME)  # so errors can quote the lines of the frames they passed
        self.builtins = safe_builtins(self)
        self.tracer = Tracer(self.builtins)  # which of the conversation's functions each statement ran
        self.namespace: dict[str, typing.Any] = {
            "__builtins__": self.builtins,
            "__name__": "__main__",
            "__metaclass__": type,
        }

    def add_function(self, name: str, fn: typing.Callable[..., typing.Any]) -> None:
        """Make a trusted helper (``answer``, extension stubs ...) callable from blocks."""
        self.builtins[name] = fn

    def run(self, source: str) -> dict[str, typing.Any]:
        """Compile and run one block; see CONTRACT.md for the returned dict.  Never raises."""
        try:
            return self._run(source)
        except BaseException as exc:
            return self._result(False, None, self._error(exc), self._limit(exc), [], [], [])

    def _run(self, source: str) -> dict[str, typing.Any]:
        self.output.reset()
        try:
            exec_code, eval_code, info = compile_block(
                source, max_source=self.max_source, max_ast_depth=self.max_ast_depth
            )
        except BaseException as exc:
            return self._result(False, None, self._error(exc), self._limit(exc), [], [], [])
        self.sources.register(source, exec_code, eval_code)
        tracer = self.tracer
        tracer.adopt(exec_code, eval_code)
        ns = self.namespace
        before = {name for name in info.names.loaded | info.names.bound | info.names.deleted if name in ns}
        read = sorted(n for n in info.names.loaded if n in before and is_user_name(n))
        value, error, limit = None, None, None
        result = None
        tracer.begin()
        try:
            try:
                if exec_code is not None:
                    exec(exec_code, ns)
                if eval_code is not None:
                    tracer.statement(info.statements - 1)
                    value = eval(eval_code, ns)
            except BaseException as exc:
                error, limit = self._error(exc), self._limit(exc)
            if limit is None and self.output.exceeded:
                limit = "output"
            if error is None and value is not None:
                result, error, limit = self._preview(value)
        finally:
            trace = tracer.end(ns)
        bound, deleted = self._changed(info.names.bound | info.names.deleted, before)
        out = self._result(error is None, result, error, limit, bound, deleted, read)
        out["trace"] = trace
        return out

    def _preview(self, value: object) -> tuple[str | None, dict[str, typing.Any] | None, str | None]:
        """Capped ``repr`` of the trailing expression, computed here in the worker.

        Plain ``repr`` (what CPython's REPL shows) unless the value is a huge
        container, whose full repr would cost more than the preview is worth.
        """
        try:
            if not (isinstance(value, (list, tuple, set, frozenset, dict)) and len(value) > 10_000):
                return _clip(repr(value), self.result_cap), None, None
        except BaseException as exc:
            return None, self._error(exc), self._limit(exc)
        short = reprlib.Repr()
        short.maxstring = short.maxother = self.result_cap
        short.maxlevel, short.maxlist, short.maxdict = 6, 100, 100
        short.maxtuple = short.maxset = short.maxfrozenset = short.maxdeque = short.maxarray = 100
        try:
            return _clip(short.repr(value), self.result_cap), None, None
        except BaseException as exc:
            return None, self._error(exc), self._limit(exc)

    def _changed(self, candidates: set[str], before: set[str]) -> tuple[list[str], list[str]]:
        """Split the AST's candidates by outcome: present now -> bound, gone now -> deleted."""
        ns = self.namespace
        bound = sorted(n for n in candidates if n in ns and is_user_name(n))
        deleted = sorted(n for n in candidates if n not in ns and n in before and is_user_name(n))
        return bound, deleted

    def _error(self, exc: BaseException) -> dict[str, typing.Any]:
        """Plain-data description of ``exc``; never raises (its attributes may be user code)."""
        try:
            if isinstance(exc, SyntaxError) and isinstance(exc.msg, str) and exc.msg:
                message = _clip(exc.msg, 2000)
            else:
                message = _safe_str(exc, 2000)
            return {"type": _clip(type(exc).__name__, 200), "message": message, "line": _error_line(exc),
                    "frames": user_frames(exc, self.sources)}
        except BaseException:
            return {"type": "BaseException", "message": "<undescribable exception>", "line": None}

    @staticmethod
    def _limit(exc: BaseException) -> str | None:
        if isinstance(exc, MemoryError):
            return "memory"
        if isinstance(exc, OutputLimitExceeded):
            return "output"
        return None

    def _result(self, ok: bool, result: str | None, error: dict[str, typing.Any] | None, limit: str | None,
                bound: list[str], deleted: list[str], read: list[str]) -> dict[str, typing.Any]:
        if limit is None and self.output.exceeded:
            limit = "output"
        return {
            "ok": ok and error is None,
            "stdout": self.output.getvalue(),
            "result": result,
            "error": error,
            "limit": limit,
            "bound": bound,
            "deleted": deleted,
            "read": read,
            "trace": None,
        }


__all__ = ["Interpreter"]
