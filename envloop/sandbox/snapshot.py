"""Worker side of versioning: which names a block changed, encoded as data; and restoring them.

Runs inside the worker, next to the Interpreter.  After a block, the
candidates are the names it bound or deleted, the names it read, and the
globals reachable from the functions and classes it read (a call to
``add(x)`` that appends to a global list mutates that list).  Each candidate
is compared with the digest of its last stored state, so the cost follows
what the block touched, not the size of the namespace.  Unchanged names make
no version.

Everything a restore needs is data, so a restore executes nothing but
definitions (see DESIGN.md, "A restore executes definitions"):

* values, and functions, go through the data-only codec; a function is its
  code's statement (compiled, never run), its closure cells, defaults and
  attributes (:mod:`envloop.sandbox._codec_defs`), so it is re-encoded
  whenever a block reads it (a call may have changed its closure);
* a class is its own ``class`` statement plus its attributes as they are now
  (``K.n = 5`` or a method patched in later is a new version of ``K``);
* an import is its import statement;
* a function the codec cannot store (``@lru_cache`` and other library
  wrappers) bound by a ``def`` is kept as that statement; bound any other way,
  it is reported lost, by name, with the reason.
"""

from __future__ import annotations

import ast
import hashlib
import types
import weakref
from collections.abc import Iterable
from typing import Any

from envloop.sandbox import codec, module_state, stream
from envloop.sandbox._codec_common import Reject, class_namespace, type_label
from envloop.sandbox._codec_defs import Defs, active
from envloop.sandbox._facades import SandboxModule
from envloop.sandbox.aliases import Aliases, groupable, reach
from envloop.sandbox.class_born import Born, ClassRelease
from envloop.sandbox.code_index import CodeIndex
from envloop.sandbox.policy import compile_block
from envloop.sandbox.restoring import (
    CLASS_BASES,
    CLASS_DELETED,
    CLASS_NESTED,
    HIDDEN_CLASS,
    Restore,
)
from envloop.sandbox.rules import is_user_name
from envloop.sandbox.statements import binding_statements, written_before_read

__all__ = ["Snapshotter"]

_PREVIEW = 200
_CLASS_SKIP = frozenset({"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"})


def _discard(_digest: str, _data: bytes) -> None:
    """A chunk sink that keeps nothing (computing a digest only)."""


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
        # Names kept as a statement (imports, functions only a def can remake): they change
        # only when rebound, so reading them costs nothing.
        self.statement_names: set[str] = set()
        # Classes made without a class statement (namedtuple(...), Enum("E", ...)) are the
        # conversation's too: their module is the namespace's "__main__".
        self.made_classes: set[type] = set()
        #: Called between blocks: own classes nothing refers to any more are let go (see class_born).
        self.release_classes = ClassRelease(interpreter, self.made_classes)
        # The statement that made each class, kept with every later version of it.
        self.class_sources: dict[str, str] = {}
        #: class name -> the names whose objects its stored attributes refer to (``Singleton.inst is a``)
        self.class_refs: dict[str, set[str]] = {}
        # Where encoded chunks go (the host, once the worker attaches its transport) and the
        # per-value limit; see envloop.sandbox.stream.
        self.chunk_sink: Any = stream.LocalChunks()
        self.max_value_bytes = stream.DEFAULT_MAX_VALUE_BYTES
        self.index = CodeIndex(self._compile)
        self.defs = Defs(interpreter.namespace, interpreter.builtins, self.index)
        self.aliases = Aliases()
        self._module_seen = {name: _digest(repr(get())) for name, (get, _set, _p) in module_state.STATES.items()}
        self._globals_of: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()
        # A class its name no longer holds (redefined or deleted) while a value refers to it is
        # stored under a reserved name (HIDDEN_CLASS), from its own statement: a resume gives the
        # old instance its old class, as CPython keeps it, not the new class of the same name.
        #: class name -> the class it held when last stored or restored
        self.class_of: dict[str, weakref.ref[type]] = {}
        #: the statement that made each class (``class_sources`` keeps only the name's newest)
        self.source_of: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
        #: name -> ids of the conversation classes its stored value refers to
        self.class_uses: dict[str, frozenset[int]] = {}
        #: reserved name -> the superseded class stored under it
        self.hidden: dict[str, weakref.ref[type]] = {}
        self.defs.hide = self._hide
        self._touched: set[int] = set()  # in a collect: the classes the values stored again refer to
        self._note_compiled_code()

    def _compile(self, source: str) -> Any:
        compiled = compile_block(source, max_source=self.interp.max_source, max_ast_depth=self.interp.max_ast_depth)
        self.interp.sources.add(source, *compiled[:2])  # tracebacks quote the lines of restored functions
        return compiled

    def _note_compiled_code(self) -> None:
        """Learn the source of every code object the interpreter compiles (functions are stored by it)."""
        sources = self.interp.sources
        register = sources.register

        def noting(source: str, *codes: types.CodeType | None) -> None:
            register(source, *codes)
            self.index.note(source, *codes)

        sources.register = noting

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
        found = frozenset(n for n in names if is_user_name(n))
        try:
            self._globals_of[value] = found
        except TypeError:
            pass
        return found

    def candidates(self, bound: Iterable[str], read: Iterable[str]) -> list[str]:
        """Names that may have changed, in a deterministic order (never set or hash order)."""
        ns = self.interp.namespace
        ordered = dict.fromkeys([*bound, *read])
        work = [n for n in ordered if callable(ns.get(n))]
        seen = set(work)
        while work:
            for name in sorted(self._globals_used(ns.get(work.pop()))):
                if name in ns and name not in ordered:
                    ordered[name] = None
                if name in ns and name not in seen and callable(ns[name]):
                    seen.add(name)
                    work.append(name)
        return [n for n in ordered if is_user_name(n)]

    def collect(self, source: str, result: dict[str, Any]) -> list[dict[str, Any]]:
        """The changes a finished block made, as plain data for the host.

        Also widens ``result["read"]`` with the stored names the block reached
        through the functions and classes it used, for provenance.
        """
        ns = self.interp.namespace
        bound = sorted(set(result.get("bound", ())))
        read = list(result.get("read", ()))
        if set(bound) & set(read):
            shadowed = written_before_read(source)
            read = [n for n in read if n not in shadowed]
        statements = binding_statements(source) if bound else {}
        self._note_classes(bound)
        candidates = self.candidates(bound, read)
        rebound = set(bound) | set(result.get("deleted", ()))
        for cls_name, referred in sorted(self.class_refs.items()):  # a class holding a name's object:
            if referred & rebound and cls_name not in candidates and not cls_name.startswith(HIDDEN_CLASS):
                candidates.append(cls_name)  # stored again once that name moves
        result["read"] = read + [n for n in candidates if n not in bound and n not in read and n in self.digests]
        names = [n for n in candidates if n in ns and (n in bound or n not in self.statement_names)]
        names += [n for n in self._superseded() if n in ns and n not in names and n not in self.statement_names]
        self._touched = set()
        changes: list[dict[str, Any]] = []
        try:
            with active(self.defs):
                for group in self.aliases.groups(names, ns):
                    changes.extend(self._changes_guarded(group, bound, statements))
                changes.extend(self._hidden_changes())
                changes.extend(self._module_state())
        finally:
            self.chunk_sink.flush()  # the block's chunks offered together: one round trip, not one per value
            self.aliases.release()
        gone = dict.fromkeys([*candidates, *result.get("deleted", ())])
        for name in gone:
            if name not in ns:
                self.class_uses.pop(name, None)
                self.statement_names.discard(name)
                self.aliases.forget(name)
                if self.digests.pop(name, None) is not None:
                    changes.append({"name": name, "kind": "deleted", "preview": "<deleted>"})
        return changes

    def _superseded(self) -> list[str]:
        """Names to store again: their value refers to a class its name no longer holds.

        Stored again, the value refers to that class by its reserved name
        (:meth:`_hide`), so a resume in a new process gives it back that class.
        """
        ns = self.interp.namespace
        again: list[str] = []
        for name, ref in list(self.class_of.items()):
            old = ref()
            if old is not None and ns.get(name) is old:
                continue
            del self.class_of[name]
            if old is not None:
                again += sorted(n for n, uses in self.class_uses.items() if id(old) in uses and n != name)
        return again

    def _hide(self, cls: type) -> str | None:
        """The reserved name of a class its name does not hold, kept from now on; None when not one.

        Raises :class:`~envloop.sandbox._codec_common.Reject` when the class
        is superseded but the statement that made it is not known.
        """
        qualname = cls.__qualname__
        parts = qualname.split(".") if type(qualname) is str else [""]
        if not all(part.isidentifier() for part in parts) or self._held(parts) is cls:
            return None  # made in a function (``f.<locals>.C``), or still where its name says
        source = self.source_of.get(cls)
        if source is None:
            if cls not in self.interp.own_classes:  # made by a call (namedtuple(...)): by its name, as before
                return None
            source = self._statement_of(cls)  # superseded in the block that made it, or nested in a class
            if source is None:
                raise Reject(f"it refers to a class {qualname} that its name no longer holds, made by a "
                             "statement that cannot be run again on its own")
        base = f"{HIDDEN_CLASS}{qualname}:{_digest(source)[:12]}"
        hidden, n = base, 1
        while (held := self.hidden.get(hidden)) is not None and held() not in (None, cls):
            n += 1
            hidden = f"{base}:{n}"
        self.hidden[hidden] = weakref.ref(cls)
        self.defs.hidden[id(cls)] = (weakref.ref(cls), hidden)
        self.source_of[cls] = self.class_sources[hidden] = source
        return hidden

    def _held(self, parts: list[str]) -> object:
        """What the namespace holds at a class's qualname (``A.B``: the class ``B`` in ``A``'s body)."""
        found: object = self.interp.namespace.get(parts[0])
        for part in parts[1:]:
            found = class_namespace(found).get(part) if isinstance(found, type) else None
        return found

    def _statement_of(self, cls: type) -> str | None:
        """The top-level ``class`` statement that made ``cls``, found through the code of its body."""
        born = self.interp.class_born.get(cls)
        body = born.body if born is not None else None
        if body is None:
            return None
        try:
            statement = self.index.locate(body)[0]
            tree = ast.parse(statement)
        except (Reject, SyntaxError):
            return None
        first = tree.body[0] if len(tree.body) == 1 else None
        return statement if isinstance(first, ast.ClassDef) and first.name == cls.__qualname__.split(".")[0] else None

    def _hidden_changes(self) -> list[dict[str, Any]]:
        """Superseded classes: stored (again when their attributes changed) while a value refers to them."""
        changes: list[dict[str, Any]] = []
        if not self.hidden:
            return changes
        used_anywhere = set().union(*self.class_uses.values())
        for hidden in sorted(self.hidden):
            cls = self.hidden[hidden]()
            if cls is None or id(cls) not in used_anywhere:
                del self.hidden[hidden]
                self.class_sources.pop(hidden, None)
                self.class_uses.pop(hidden, None)
                if cls is not None:
                    self.defs.hidden.pop(id(cls), None)
                if self.digests.pop(hidden, None) is not None:
                    changes.append({"name": hidden, "kind": "deleted", "preview": "<deleted>"})
                continue
            if hidden in self.digests and id(cls) not in self._touched:
                continue  # only a value referring to it reaches it: none was stored again
            used: set[int] = set()
            self.defs.used = used
            try:
                record = self._class(hidden, cls, None)
            finally:
                self.defs.used = None
            self.class_uses[hidden] = frozenset(used - {id(cls)})
            digest = record.pop("digest")
            if digest != self.digests.get(hidden):
                self._remember(hidden, digest, False)
                changes.append(record)
        return changes

    def _module_state(self) -> list[dict[str, Any]]:
        """Module state a block moved (see :mod:`envloop.sandbox.module_state`), each as its reserved ``@name``."""
        changes = []
        for name, (get, _set, preview) in module_state.STATES.items():
            state = get()
            digest = _digest(repr(state))
            if digest == self._module_seen.get(name):
                continue
            self._module_seen[name] = digest
            encoded = self._encode(state)
            if not isinstance(encoded, stream.Streamed):
                continue
            change = self._streamed(name, encoded)
            change.update(preview=preview, type_name="module state")
            self.digests[name] = change.pop("digest")
            changes.append(change)
        return changes

    def restore_module_state(self, name: str, state: Any) -> None:
        entry = module_state.STATES.get(name)
        if entry is None:
            raise ValueError(f"unknown module state {name!r}")
        entry[1](state)
        self._module_seen[name] = _digest(repr(entry[0]()))

    def _changes_guarded(self, group: list[str], bound: list[str], statements: dict[str, tuple[str, str]]
                         ) -> list[dict[str, Any]]:
        """:meth:`_changes_of`, but a failure (a MemoryError in a worker near its limit) costs only these names.

        A group is tried again name by name (alone, plain data takes the C path, which
        holds no copy); a name that still fails is reported lost, by name and why,
        instead of every change of the block vanishing without a word.
        """
        try:
            return self._changes_of(group, bound, statements)
        except Exception as exc:
            if len(group) == 1:
                return self._failed(group[0], exc)
        changes: list[dict[str, Any]] = []
        for name in group:
            changes.extend(self._changes_guarded([name], bound, statements))
        return changes

    def _failed(self, name: str, exc: Exception) -> list[dict[str, Any]]:
        why = ("the worker ran out of memory while encoding it" if isinstance(exc, MemoryError)
               else f"encoding it failed: {type(exc).__name__}: {str(exc)[:200]}")
        lost = f"{name}: not stored: {why}"
        digest = "lost:" + _digest(lost)
        if digest == self.digests.get(name):
            return []
        self._remember(name, digest, False)
        return [{"name": name, "kind": "value", "lost_reason": lost, "preview": "<not stored>",
                 "type_name": type_label(type(self.interp.namespace[name])), "size": None}]

    def _changes_of(self, group: list[str], bound: list[str], statements: dict[str, tuple[str, str]]
                    ) -> list[dict[str, Any]]:
        """Change records for one name, or for names sharing objects (stored together, see aliases)."""
        ns = self.interp.namespace
        used: set[int] = set()  # the classes these values refer to (see _superseded)
        self.defs.used = used
        try:
            together = self.aliases.encode_group(group, ns, self._encode, self.own_classes()) if len(group) > 1 \
                else None
            # One by one when alone, or when one of them cannot be stored (the others keep their values).
            records = together if together is not None else [
                self._describe(name, ns[name], statements.get(name) if name in bound else None) for name in group]
            if together is not None:  # what each member's own encoding would be: a value that did not
                for record in together:  # change is recognisably the same when stored with new company
                    alone = stream.encode_value(ns[record["name"]], self.own_classes(), _discard, self.max_value_bytes)
                    if isinstance(alone, stream.Streamed):
                        record["content"] = alone.digest
        finally:
            self.defs.used = None
        self._touched |= used
        for name in group:
            uses = used - {id(ns[name])}
            if uses:
                self.class_uses[name] = frozenset(uses)
            else:
                self.class_uses.pop(name, None)
        changes = []
        for change in records:
            if change is None:
                continue
            digest = change.pop("digest")
            if digest != self.digests.get(change["name"]):
                statement = change["kind"] in ("import", "function") and "encoding" not in change
                self._remember(change["name"], digest, statement and not change.get("lost_reason"))
                changes.append(change)
        return changes

    def _encode(self, value: Any, walker: bool = False) -> Any:
        return stream.encode_value(value, self.own_classes(), self.chunk_sink.put, self.max_value_bytes, walker,
                                   None if walker else self.aliases.plan(value))

    def _describe(self, name: str, value: Any, statement: tuple[str, str] | None) -> dict[str, Any] | None:
        """A change record for ``name`` (with its digest), or None when nothing storable changed."""
        if statement is not None and statement[0] == "import" or type(value) is SandboxModule:
            return None if statement is None else self._statement(name, "import", statement[1], value)
        if isinstance(value, type) and getattr(value, "__qualname__", None) == name and value in self.own_classes():
            return self._class(name, value, statement)
        encoded = self._encode(value)
        if isinstance(encoded, stream.Streamed):  # its chunks already crossed to the host
            change = self._streamed(name, encoded)
            if type(value) is types.FunctionType:
                change["kind"] = "function"
                change["source"] = statement[1] if statement and statement[0] == "def" else self._where(value)
                change["preview"] = change["source"].strip().split("\n", 1)[0][:_PREVIEW]
            return change
        if statement is not None and statement[0] == "def" and type(value) is not types.FunctionType:
            # e.g. @lru_cache: a library wrapper its own def remakes (a plain function that cannot be
            # stored -- a default or closure holding a generator -- is lost: re-running could differ)
            record = self._statement(name, "function", statement[1], value)
            record["preview"] += f"  [re-run on resume; its state is not kept: {getattr(encoded, 'reason', 'too large')}]"[:_PREVIEW]
            return record
        return self._lost(name, encoded)

    @staticmethod
    def _streamed(name: str, encoded: stream.Streamed) -> dict[str, Any]:
        return {
            "name": name, "kind": "value", "encoding": stream.ENCODING, "chunks": encoded.chunks,
            "preview": encoded.preview, "type_name": encoded.type_name,
            "size": encoded.size, "digest": encoded.digest, "content": encoded.digest,
        }

    @staticmethod
    def _lost(name: str, encoded: Any) -> dict[str, Any]:
        lost = encoded.describe(name)
        return {
            "name": name, "kind": "value", "lost_reason": lost, "preview": encoded.preview[:_PREVIEW],
            "type_name": encoded.type_name, "digest": "lost:" + _digest(lost + encoded.preview),
            "size": getattr(encoded, "size", None),
        }

    def _where(self, fn: types.FunctionType) -> str:
        try:
            return self.index.locate(fn.__code__)[0]
        except Exception:
            return f"<function {fn.__qualname__}>"

    def _class(self, name: str, cls: type, statement: tuple[str, str] | None) -> dict[str, Any]:
        """A class: the statement that made it, plus its attributes as they are now, as data."""
        if statement is not None and statement[0] in ("class", "assign"):
            self.class_sources[name] = statement[1]
        source = self.class_sources.get(name)
        if source is not None and not name.startswith(HIDDEN_CLASS):
            self.class_of[name] = weakref.ref(cls)
            self.source_of.setdefault(cls, source)
        if source is None:
            why = f"{name}: the statement that made this class is not known, so it cannot be restored"
            return {"name": name, "kind": "class", "lost_reason": why, "preview": f"<class {name}>",
                    "type_name": "type", "digest": "lost:" + _digest(why)}
        state, not_kept = self._class_state(cls)
        if not_kept:
            why = (f"{name}: attributes set after its class statement cannot be stored: "
                   + "; ".join(not_kept))
            return {"name": name, "kind": "value", "lost_reason": why, "preview": f"<class {name}>",
                    "type_name": "type", "digest": "lost:" + _digest(why)}
        refs = self._name_refs(name, state)
        self.defs.name_refs = refs
        try:
            encoded = self._encode(state, walker=bool(refs))
        finally:
            self.defs.name_refs = None
        self.class_refs[name] = set(refs.values())
        record = self._statement(name, "class", source, cls)
        if isinstance(encoded, stream.Streamed):
            record.update(encoding=stream.ENCODING, chunks=encoded.chunks, size=encoded.size,
                          digest=self._class_digest(source, encoded.digest))
        return record

    def _name_refs(self, name: str, state: dict[str, Any]) -> dict[int, str]:
        """``{id: name}`` of the names whose objects the class's state holds (stored as references to them).

        The class's attributes and the names are stored apart, so an object both
        hold would come back as two copies; a reference keeps it one object.
        """
        ns = self.interp.namespace
        reached = reach(state)
        refs: dict[int, str] = {}
        for other in sorted(ns):
            value = ns[other]
            if other != name and is_user_name(other) and id(value) in reached and id(value) != id(state) \
                    and not isinstance(value, type) and groupable(value) and id(value) not in refs:
                refs[id(value)] = other
        return refs

    @staticmethod
    def _class_digest(source: str, state_digest: str) -> str:
        return _digest(f"class\0{source}\0{state_digest}")

    def _class_state(self, cls: type) -> tuple[dict[str, Any], list[str]]:
        """The class attributes stored as data, and those that cannot be (``"name (reason)"``).

        Everything storable is stored: values, the conversation's functions,
        ``staticmethod``/``classmethod``/``property`` objects, by whatever route
        they were set. What cannot be stored comes back from the class statement
        when the statement made it (the attribute it held when the class was
        made, or a method a decorator such as ``dataclass`` generated); anything
        else is listed, and the class is reported lost rather than restored
        without it.
        """
        own = self.own_classes()
        born = self.interp.class_born.get(cls)
        if born is None:  # made by a library call (namedtuple(...)), not a class statement: as first seen
            born = self.interp.class_born[cls] = Born(class_namespace(cls))
        ns = self.interp.namespace
        state: dict[str, Any] = {}
        not_kept: list[str] = []
        nested: dict[str, Any] = {}
        for key, value in class_namespace(cls).items():
            if key in _CLASS_SKIP:
                continue
            function = type(value) is types.FunctionType
            if key.startswith("__") and key.endswith("__") and not function:
                continue
            if function and value.__globals__ is not ns:
                continue  # generated by a library (dataclass, total_ordering): the statement remakes it
            if isinstance(value, type) and value in own and value.__qualname__ == f"{cls.__qualname__}.{key}":
                inner, lost = self._class_state(value)  # a class made in this one's body: its state too
                nested[key] = inner
                not_kept += [f"{key}.{what}" for what in lost]
            found = codec.encode(value, own_classes=own, limit_bytes=self.max_value_bytes)
            if found.ok:
                state[key] = value
            elif born.made(key, value, cls):
                continue  # made by the statement itself
            else:
                not_kept.append(f"{key} ({getattr(found, 'reason', 'cannot be stored')})")
        current = class_namespace(cls)
        deleted = sorted(key for key in born if key not in current and key not in _CLASS_SKIP)
        if deleted:  # ``del K.n`` after the statement made it: the restore deletes it again
            state[CLASS_DELETED] = deleted
        if nested:
            state[CLASS_NESTED] = nested
        own_bases = [base for base in cls.__bases__ if base in own]
        if self.defs.used is not None:  # redefining a base stores this class again, with that base
            self.defs.used.update(map(id, own_bases))
        superseded = {}
        for base in own_bases:
            try:
                if self._hide(base) is not None and base.__qualname__.isidentifier():
                    superseded[base.__qualname__] = base
            except Reject as exc:
                not_kept.append(f"its base {base.__qualname__} ({exc.reason})")
        if superseded:  # the restore runs the statement with these names bound to them
            state[CLASS_BASES] = superseded
        return state, not_kept

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

    def _remember(self, name: str, digest: str, kept_as_statement: bool) -> None:
        self.digests[name] = digest
        if kept_as_statement:
            self.statement_names.add(name)
        else:
            self.statement_names.discard(name)

    # -- restoring ---------------------------------------------------------

    def restore(self, items: list[dict[str, Any]], seconds: float = 120.0) -> dict[str, Any]:
        """Rebuild names from stored versions (see :mod:`envloop.sandbox.restoring`)."""
        with active(self.defs):
            return Restore(self, items, seconds).run()

