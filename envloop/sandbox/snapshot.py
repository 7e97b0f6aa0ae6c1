"""Worker side of versioning: which names a block changed, encoded as data; and restoring them.

Runs inside the worker, next to the Interpreter.  After a block, the
candidates are the names it bound or deleted, the names it read, and the
globals reachable from the functions and classes it read (a call to
``add(x)`` that appends to a global list mutates that list).  Each candidate
is compared with the digest of its last stored state, so the cost follows
what the block touched, not the size of the namespace.  Unchanged names make
no version.

Values go through the data-only codec (chunked, so an append to a big list
stores one new chunk); functions, classes and imports are kept as the source
of the statement that made them (see :mod:`envloop.sandbox.statements`).
"""

from __future__ import annotations

import hashlib
import types
import weakref
from collections.abc import Iterable
from typing import Any

from envloop.sandbox import stream
from envloop.sandbox._facades import SandboxModule
from envloop.sandbox.codec import class_table
from envloop.sandbox.statements import binding_statements, written_before_read

__all__ = ["Snapshotter"]

_STATEMENT_KINDS = {"def": "function", "class": "class", "import": "import"}
_PREVIEW = 200


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _code_names(code: types.CodeType, out: set[str]) -> None:
    out.update(code.co_names)
    for const in code.co_consts:
        if type(const) is types.CodeType:
            _code_names(const, out)


class Snapshotter:
    """Tracks the stored state of one Interpreter's namespace."""

    def __init__(self, interpreter: Any) -> None:
        self.interp = interpreter
        self.digests: dict[str, str] = {}
        # Names whose stored version is a statement (function, class, import): they
        # change only when rebound, never in place, so reading them costs nothing.
        self.statement_names: set[str] = set()
        # Classes made without a class statement (namedtuple(...), Enum("E", ...)) are the
        # conversation's too: their module is the namespace's "__main__".
        self.made_classes: set[type] = set()
        # Where encoded chunks go (the host, once the worker attaches its transport) and the
        # per-value limit; see envloop.sandbox.stream.
        self.chunk_sink: Any = stream.LocalChunks()
        self.max_value_bytes = stream.DEFAULT_MAX_VALUE_BYTES
        self._globals_of: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()

    # -- after a block -----------------------------------------------------

    def _globals_used(self, value: Any) -> frozenset[str]:
        """Global names a function (or an own class's methods) may touch."""
        try:
            return self._globals_of[value]
        except (KeyError, TypeError):
            pass
        names: set[str] = set()
        if type(value) is types.FunctionType:
            _code_names(value.__code__, names)
        elif isinstance(value, type) and value in self.interp.own_classes:
            for member in vars(value).values():
                inner = getattr(member, "__func__", member)
                if type(inner) is types.FunctionType:
                    _code_names(inner.__code__, names)
        found = frozenset(n for n in names if not n.startswith("_"))
        try:
            self._globals_of[value] = found
        except TypeError:
            pass
        return found

    def candidates(self, bound: Iterable[str], read: Iterable[str]) -> list[str]:
        ns = self.interp.namespace
        ordered = dict.fromkeys([*bound, *read])
        work = [n for n in ordered if callable(ns.get(n))]
        seen = set(work)
        while work:
            for name in self._globals_used(ns.get(work.pop())):
                if name in ns and name not in ordered:
                    ordered[name] = None
                if name in ns and name not in seen and callable(ns[name]):
                    seen.add(name)
                    work.append(name)
        return [n for n in ordered if not n.startswith("_")]

    def collect(self, source: str, result: dict[str, Any]) -> list[dict[str, Any]]:
        """The changes a finished block made, as plain data for the host.

        Also widens ``result["read"]`` with the stored names the block reached
        through the functions and classes it used, for provenance.
        """
        ns = self.interp.namespace
        bound = set(result.get("bound", ()))
        read = list(result.get("read", ()))
        if bound & set(read):
            shadowed = written_before_read(source)
            read = [n for n in read if n not in shadowed]
        statements = binding_statements(source) if bound else {}
        changes: list[dict[str, Any]] = []
        candidates = self.candidates(bound, read)
        result["read"] = read + [n for n in candidates if n not in bound and n not in read and n in self.digests]
        self._note_classes(bound)
        for name in candidates + list(result.get("deleted", ())):
            if any(c["name"] == name for c in changes):
                continue
            if name not in ns:
                self.statement_names.discard(name)
                if self.digests.pop(name, None) is not None:
                    changes.append({"name": name, "kind": "deleted", "preview": "<deleted>"})
                continue
            if name not in bound and name in self.statement_names:
                continue
            statement = statements.get(name) if name in bound else None
            change = self._describe(name, ns[name], statement)
            if change is None:
                continue
            digest = change.pop("digest")
            if digest != self.digests.get(name):
                self._remember(name, change["kind"], digest)
                changes.append(change)
        return changes

    def _describe(self, name: str, value: Any, statement: tuple[str, str] | None) -> dict[str, Any] | None:
        """A change record for ``name`` (with its digest), or None when nothing storable changed."""
        if statement is not None and statement[0] in _STATEMENT_KINDS:
            return self._statement(name, _STATEMENT_KINDS[statement[0]], statement[1], value)
        if type(value) is SandboxModule:  # `m = math`: a module is kept as its statement
            return None if statement is None else self._statement(name, "import", statement[1], value)
        encoded = stream.encode_value(value, self.own_classes(), self.chunk_sink.put, self.max_value_bytes)
        self.chunk_sink.flush()
        if isinstance(encoded, stream.Streamed):  # its chunks already crossed to the host
            return {
                "name": name, "kind": "value", "encoding": stream.ENCODING, "chunks": encoded.chunks,
                "preview": encoded.preview, "type_name": encoded.type_name,
                "size": encoded.size, "digest": encoded.digest,
            }
        if encoded.kind in ("function", "class", "module"):
            if statement is None:
                return None  # read, not rebound: a function or class does not change in place
            kind = {"module": "import"}.get(encoded.kind, encoded.kind)
            return self._statement(name, kind, statement[1], value)
        lost = encoded.describe(name)
        return {
            "name": name, "kind": "value", "lost_reason": lost, "preview": encoded.preview[:_PREVIEW],
            "type_name": encoded.type_name, "digest": "lost:" + _digest(lost + encoded.preview),
            "size": getattr(encoded, "size", None),
        }

    def _statement(self, name: str, kind: str, source: str, value: Any) -> dict[str, Any]:
        first = source.strip().split("\n", 1)[0]
        return {
            "name": name, "kind": kind, "source": source, "preview": first[:_PREVIEW],
            "type_name": type(value).__name__, "size": len(source), "digest": _digest(f"{kind}\0{source}"),
        }

    def own_classes(self) -> set[type]:
        own: set[type] = self.interp.own_classes
        return own | self.made_classes

    def _note_classes(self, names: Iterable[str]) -> None:
        ns = self.interp.namespace
        for name in names:
            value = ns.get(name)
            if isinstance(value, type) and type.__dict__["__module__"].__get__(value) == "__main__":
                self.made_classes.add(value)

    def _remember(self, name: str, kind: str, digest: str) -> None:
        self.digests[name] = digest
        if kind in ("function", "class", "import"):
            self.statement_names.add(name)
        else:
            self.statement_names.discard(name)

    # -- restoring ---------------------------------------------------------

    def restore(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Rebuild names from stored versions; statements that fail once are retried at the end."""
        restored: list[str] = []
        failed: list[dict[str, str]] = []
        retry: list[dict[str, Any]] = []
        for item in items:
            error = self._restore_one(item)
            if error is None:
                restored.append(item["name"])
            elif item.get("source") and "NameError" in error:
                retry.append(item)
            else:
                failed.append({"name": item["name"], "error": error})
        for item in retry:
            error = self._restore_one(item)
            if error is None:
                restored.append(item["name"])
            else:
                failed.append({"name": item["name"], "error": error})
        return {"restored": restored, "failed": failed}

    def _restore_one(self, item: dict[str, Any]) -> str | None:
        ns = self.interp.namespace
        name, kind = str(item["name"]), item.get("kind")
        if kind == "deleted":
            ns.pop(name, None)
            self.digests.pop(name, None)
            self.statement_names.discard(name)
            return None
        if kind in ("function", "class", "import"):
            source = str(item.get("source") or "")
            outcome = self.interp.run(source)
            if not outcome.get("ok"):
                err = outcome.get("error") or {}
                return f"{err.get('type')}: {err.get('message')}"
            self._remember(name, kind, _digest(f"{kind}\0{source}"))
            self._note_classes(outcome.get("bound", ()))
            return None
        value = item.get("value")
        if not value:
            ns.pop(name, None)
            self.statement_names.discard(name)
            return str(item.get("lost_reason") or "the value was not stored")
        classes = class_table(self.own_classes())
        try:
            ns[name] = stream.decode_value(value, classes, self.chunk_sink.fetch)
        except Exception as exc:  # DecodeError or a class that changed shape: report, never guess
            ns.pop(name, None)
            return f"{type(exc).__name__}: {exc}"
        self._remember(name, "value", stream.stored_digest(value))
        return None
