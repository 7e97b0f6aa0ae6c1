"""Rebuilding a namespace from stored versions, in the worker: deterministic, bounded, per name.

Order (never set or hash order): imports first, then the statements a restore
runs -- ``class`` statements and the few functions kept as their ``def`` --
in a topological order of the names each one reads (ties keep the order the
host sent, which is version order), then values and functions rebuilt from
data, in the order sent. A statement that fails with ``NameError`` on a name
whose value is still waiting gets that value first, then a retry; such values
are rebuilt once more with the others, so nothing a statement did to them stays.

Bounded: one deadline for the whole restore (the host's timeout less a
margin); a statement gets at most :data:`STATEMENT_SECONDS` of it, enforced
by a watchdog thread, so a decorator that loops forever costs seconds, not
the whole budget. Names not reached by the deadline are reported as failed.
Nothing here calls the host: the worker's host-function stubs refuse while a
restore runs.

Per name: a failure is reported as ``{"name", "error"}`` and the rest goes on.
"""

from __future__ import annotations

import _thread
import ast
import contextlib
import hashlib
import re
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from envloop.sandbox import stream
from envloop.sandbox._codec_common import class_namespace
from envloop.sandbox._codec_defs import HIDDEN_CLASS, PendingName, shown_name
from envloop.sandbox.codec import class_table

__all__ = ["CLASS_BASES", "CLASS_DELETED", "CLASS_NESTED", "HIDDEN_CLASS", "STATEMENT_SECONDS", "Restore", "order"]

#: The key, never an attribute name, under which a class's stored state lists attributes deleted since its statement.
CLASS_DELETED = "\0deleted"
#: The key under which a class's stored state holds the states of classes made in its body.
CLASS_NESTED = "\0nested"
#: The key under which a class's stored state holds its bases that their name no longer holds
#: (``{"P": <the earlier P>}``): its statement runs with those names bound to them.
CLASS_BASES = "\0bases"

STATEMENT_SECONDS = 10.0
_MARGIN = 2.0
_RETRIES = 16
_NAME_ERROR = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


class _Deadline(BaseException):
    """A statement ran past its share of the restore."""


class _Watchdog:
    """Interrupts the main thread (as SIGINT does) when a statement runs past its time.

    ``_thread.interrupt_main`` trips the interpreter's own signal flag without a
    syscall, so it works under the worker's seccomp filter, which refuses
    interval timers; a loop in Python code stops at its next bytecode. A
    worker that cannot start a thread restores without it: the host's
    deadline for the whole restore still holds.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._done = threading.Event()
        self._seconds = seconds
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Watchdog:
        try:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        except RuntimeError:
            self._thread = None
        return self

    def _watch(self) -> None:
        if not self._done.wait(self._seconds):
            self.fired = True
            _thread.interrupt_main()

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


def _loads(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Imports, then statements in dependency order, then data; tombstones where they came."""
    imports = [i for i in items if i.get("kind") == "import"]
    statements = [i for i in items if _runs_statement(i) and i.get("kind") != "import"]
    rest = [i for i in items if not _runs_statement(i)]
    names = {str(i["name"]) for i in statements}
    hidden: dict[str, set[str]] = {}  # a name -> the superseded classes of that name (run before its readers)
    for name in names:
        if name.startswith(HIDDEN_CLASS):
            hidden.setdefault(shown_name(name).split(".")[0], set()).add(name)
    needs = {}
    for i in statements:
        loads = _loads(str(i.get("source") or ""))
        needs[id(i)] = (loads & names).union(*(hidden.get(n, ()) for n in loads)) - {i["name"]}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    pending = list(statements)
    while pending:
        ready = next((i for i in pending if needs[id(i)] <= done), pending[0])  # a cycle: version order
        pending.remove(ready)
        ordered.append(ready)
        done.add(str(ready["name"]))
    return imports + ordered + rest


def _runs_statement(item: dict[str, Any]) -> bool:
    kind = item.get("kind")
    return kind == "import" or kind == "class" or (kind == "function" and not item.get("value"))


class Restore:
    """One restore: the snapshotter to fill, the items, and the deadline."""

    def __init__(self, snapshot: Any, items: list[dict[str, Any]], seconds: float) -> None:
        self.snap = snapshot
        self.items = order(items)
        self.end = time.monotonic() + max(1.0, seconds - _MARGIN)
        self.restored: list[str] = []
        self.failed: list[dict[str, str]] = []
        self._done: set[str] = set()
        self._groups: dict[tuple[str, ...], Any] = {}
        self._early: set[str] = set()
        self._in_values = False
        self._pending_classes = [str(i["name"]) for i in self.items if i.get("kind") == "class"]
        self._deferred: list[tuple[str, dict[str, Any]]] = []  # class states that refer to names
        self._made_aside: dict[tuple[str, str], Any] = {}  # superseded classes made, by name and statement
        self._group_uses: dict[tuple[str, ...], frozenset[int]] = {}  # the classes each decoded group refers to

    def run(self) -> dict[str, Any]:
        waiting = {str(i["name"]): i for i in self.items if not _runs_statement(i)}
        for item in self.items:
            name = str(item["name"])
            if not self._in_values and not _runs_statement(item):
                # Values a statement needed were rebuilt early (with stand-ins for classes not made
                # yet); rebuild them again now, so whatever a class statement did to them is undone.
                self._in_values = True
                self._groups.clear()
                self._group_uses.clear()
                self._done -= self._early
            if name in self._done:
                continue
            if time.monotonic() >= self.end:
                self._fail(name, "the restore ran out of time before reaching this name")
                continue
            self._one(item, waiting)
        for name, value in self._deferred:
            try:
                self._class_state(name, value)
            except Exception as exc:
                if name in self.restored:
                    self.restored.remove(name)
                self._fail(name, f"its attributes could not be restored: {exc}")
        return {"restored": list(dict.fromkeys(self.restored)), "failed": self.failed}

    def _class_state(self, name: str, value: dict[str, Any]) -> None:
        """Decode a class's stored attributes and set them (see :func:`_apply_class_state`)."""
        snap = self.snap
        held = snap.hidden.get(name) if name.startswith(HIDDEN_CLASS) else None
        cls = held() if held is not None else snap.interp.namespace[name]
        used: set[int] = set()
        snap.defs.used = used
        try:
            state = dict(self._decode(value))
        finally:
            snap.defs.used = None
        snap.class_uses[name] = frozenset(used - {id(cls)})
        snap.class_refs[name] = set(snap._name_refs(name, state).values())  # before it is taken apart
        _apply_class_state(cls, state)

    def _fail(self, name: str, error: str) -> None:
        self._done.add(name)
        if not name.startswith("@"):
            self.snap.interp.namespace.pop(name, None)
        self.failed.append({"name": name, "error": error})

    def _one(self, item: dict[str, Any], waiting: dict[str, dict[str, Any]]) -> None:
        name = str(item["name"])
        self._done.add(name)  # a cycle of statements needing each other stops here
        try:
            error = self._restore(item)
            for _ in range(_RETRIES):  # a statement that needs a value not rebuilt yet: that value first
                missing = _NAME_ERROR.search(error or "")
                needed = missing.group(1) if missing else ""
                if needed not in waiting or needed in self._done:
                    break
                self._early.add(needed)
                self._one(waiting[needed], waiting)
                error = self._restore(item)
        except _Deadline:
            error = f"its statement ran longer than {STATEMENT_SECONDS:g} s during the restore"
        except Exception as exc:  # a corrupt item must not stop the others
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            if not name.startswith("@"):
                self.restored.append(name)
        else:
            self._fail(name, error)

    def _restore(self, item: dict[str, Any]) -> str | None:
        snap, ns = self.snap, self.snap.interp.namespace
        name, kind = str(item["name"]), item.get("kind")
        if kind == "deleted":
            ns.pop(name, None)
            snap.digests.pop(name, None)
            snap.statement_names.discard(name)
            snap.aliases.forget(name)
            return None
        if _runs_statement(item):
            return self._statement(item)
        value = item.get("value")
        if not value:
            ns.pop(name, None)
            return str(item.get("lost_reason") or "the value was not stored")
        if name.startswith("@"):  # module state (see Snapshotter._module_state), not a name
            snap.restore_module_state(name, self._decode(value))
            return None
        used: set[int] = set()  # the classes it refers to: stored again if one is redefined
        snap.defs.used = used
        try:
            ns[name] = self._decode(value)
        except Exception as exc:  # DecodeError or a class that changed shape: report, never guess
            ns.pop(name, None)
            return f"{type(exc).__name__}: {exc}"
        finally:
            snap.defs.used = None
        if used:
            snap.class_uses[name] = frozenset(used - {id(ns[name])})
        snap._remember(name, _value_digest(value), False)
        snap.aliases.note(name, ns[name])
        return None

    def _decode(self, value: dict[str, Any]) -> Any:
        """A value, or one member of a group of names stored together (decoded once, so shared)."""
        member = value.get("member")
        own = self.snap.own_classes()
        classes = class_table(sorted(own, key=id))
        ns = self.snap.interp.namespace
        classes.update({n: ns[n] for n in self._pending_classes if n in ns and ns[n] in own})  # the bound one wins
        classes.update({n: c for n, ref in self.snap.hidden.items() if (c := ref()) is not None})
        if not self._in_values:  # needed early by a statement: classes not made yet get stand-ins
            for name in self._pending_classes:
                classes.setdefault(name, type(name, (), {"__module__": "__main__"}))
        if member is None:
            return stream.decode_value(value, classes, self.snap.chunk_sink.fetch)
        key = tuple(value.get("chunks") or ())
        group = self._groups.get(key)
        used = self.snap.defs.used
        if group is None:
            group = self._groups[key] = stream.decode_value(value, classes, self.snap.chunk_sink.fetch)
            self._group_uses[key] = frozenset(used or ())
        elif used is not None:  # decoded once for all its members: each refers to its classes
            used.update(self._group_uses.get(key, ()))
        if type(group) is not dict or member not in group:
            raise ValueError(f"the stored group holds no {member!r}")
        return group[member]

    def _run_statement(self, source: str) -> str | None:
        """Run one statement under the watchdog; its error, or None."""
        seconds = min(STATEMENT_SECONDS, max(0.1, self.end - time.monotonic()))
        try:
            with _Watchdog(seconds) as watchdog:
                outcome = self.snap.interp.run(source)
        except KeyboardInterrupt:
            if watchdog.fired:
                raise _Deadline from None
            raise
        if watchdog.fired:
            raise _Deadline
        if not outcome.get("ok"):
            err = outcome.get("error") or {}
            return f"{err.get('type')}: {err.get('message')}"
        self.snap._note_classes(outcome.get("bound", ()))
        return None

    def _bases(self, item: dict[str, Any]) -> dict[str, type]:
        """A class's bases that their name no longer holds (CLASS_BASES), for its statement; rarely any.

        Read from its stored state, decoded once more after the statement for
        the attributes; only when a superseded class has a name it reads.
        """
        value = item.get("value")
        hidden = {shown_name(name).split(".")[0] for name in self.snap.hidden}
        if not value or not hidden & _loads(str(item.get("source") or "")):
            return {}
        try:
            state = self._decode(value)
        except Exception:  # it refers to what is not back yet: the bases, if any, are found then
            return {}
        bases = state.get(CLASS_BASES) if type(state) is dict else None
        if type(bases) is not dict:
            return {}
        return {k: v for k, v in bases.items() if type(k) is str and k.isidentifier() and isinstance(v, type)}

    def _hidden(self, item: dict[str, Any]) -> str | None:
        """A superseded class (``@class:P:...``): its statement run, the class kept aside, ``P`` left as it was."""
        snap, ns = self.snap, self.snap.interp.namespace
        hidden, source = str(item["name"]), str(item.get("source") or "")
        real, *path = shown_name(hidden).split(".")  # ``A.B``: the class B made in the body of (an earlier) A
        held = snap.hidden.get(hidden)
        cls = held() if held is not None else None
        if cls is None or snap.source_of.get(cls) != source:
            made = self._made_aside.get((real, source))
            if made is None:
                with _bound(ns, {real: None, **self._bases(item)}):
                    error = self._run_statement(source)
                    made = ns.get(real)
                if error is not None:
                    return error
                self._made_aside[(real, source)] = made  # one run for the class and those nested in it
            for part in path:
                made = class_namespace(made).get(part) if isinstance(made, type) else None
            if not isinstance(made, type):
                return f"its statement did not define the class {shown_name(hidden)}"
            cls = made
            snap.hidden[hidden] = weakref.ref(cls)
            snap.defs.hidden[id(cls)] = (weakref.ref(cls), hidden)
            snap.source_of[cls] = snap.class_sources[hidden] = source
        snap._remember(hidden, self._attributes(hidden, source, item, cls), False)
        return None

    def _attributes(self, name: str, source: str, item: dict[str, Any], cls: type) -> str:
        """Set a class's stored attributes (later, if they hold a name's object); the digest of its version."""
        value = item.get("value")
        if not value:
            return str(self.snap._statement(name, "class", source, cls)["digest"])
        try:
            self._class_state(name, value)
        except PendingName:  # it holds a name's object: once the values are back
            self._deferred.append((name, value))
        return str(self.snap._class_digest(source, _value_digest(value)))

    def _statement(self, item: dict[str, Any]) -> str | None:
        """Run an import, class or def statement -- the definition itself, under a timer."""
        snap, ns = self.snap, self.snap.interp.namespace
        name, kind = str(item["name"]), str(item.get("kind"))
        source = str(item.get("source") or "")
        if kind == "class" and name.startswith(HIDDEN_CLASS):
            return self._hidden(item)
        existing = ns.get(name)
        if not (kind == "class" and isinstance(existing, type) and snap.class_sources.get(name) == source):
            # (a class this worker already has from the same statement only takes its new attributes:
            # instances made here keep being instances of it when another process changed the class)
            with _bound(ns, self._bases(item) if kind == "class" else {}):
                error = self._run_statement(source)
            if error is not None:
                return error
            if name not in ns:
                return f"its statement did not define {name}"
        if kind != "class":
            snap._remember(name, snap._statement(name, kind, source, ns[name])["digest"], True)
            return None
        snap.class_sources[name] = source
        if isinstance(ns[name], type):
            snap.class_of[name] = weakref.ref(ns[name])
            snap.source_of.setdefault(ns[name], source)
        snap._remember(name, self._attributes(name, source, item, ns[name]), False)
        return None


@contextlib.contextmanager
def _bound(ns: dict[str, Any], names: dict[str, Any]) -> Iterator[None]:
    """``names`` bound in ``ns`` while a statement runs (None: left as the statement leaves it), then as before."""
    before = {name: ns[name] for name in names if name in ns}
    ns.update((name, value) for name, value in names.items() if value is not None)
    try:
        yield
    finally:
        for name in names:
            if name in before:
                ns[name] = before[name]
            else:
                ns.pop(name, None)


def _apply_class_state(cls: type, state: dict[str, Any]) -> None:
    """Set a class's stored attributes, delete those deleted since its statement, then its nested classes'."""
    state.pop(CLASS_BASES, None)
    for key in state.pop(CLASS_DELETED, ()):
        if key in class_namespace(cls):
            type.__delattr__(cls, key)
    nested = state.pop(CLASS_NESTED, {})
    for key, attr in state.items():
        type.__setattr__(cls, key, attr)
    for key, inner in nested.items():
        found = class_namespace(cls).get(key)
        if isinstance(found, type) and type(inner) is dict:
            _apply_class_state(found, dict(inner))


def _value_digest(value: dict[str, Any]) -> str:
    digest = stream.stored_digest(value)
    member = value.get("member")
    if member is None:
        return digest
    return hashlib.sha256(f"{digest}\0{member}".encode("utf-8", "surrogatepass")).hexdigest()

