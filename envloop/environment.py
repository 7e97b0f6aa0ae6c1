"""One conversation's live environment: a sandbox worker kept in step with the database.

The database is the truth; the worker's namespace is a cache of it.  Every
block runs under the conversation's lock (taken in the database, so it holds
across processes): first the worker catches up on versions other processes
wrote since it last looked, then the block runs, then the block's row, its
definition versions, provenance edges and artifacts commit in ONE transaction.
A killed worker is replaced and its namespace restored from the database.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, insert, select, update

from envloop import instructions
from envloop.errors import SandboxError
from envloop.limits import Limits, human
from envloop.provenance import assign_read_sets
from envloop.sandbox import RunResult, Sandbox
from envloop.sandbox.rules import is_user_name
from envloop.store.chunks import SpoolChunkStore
from envloop.store.db import Database
from envloop.store.fileid import FileIdentity
from envloop.store.locks import ConversationLock
from envloop.store.models import (
    ArtifactVersion,
    Blob,
    Block,
    DefinitionVersion,
    Query,
    utcnow,
)
from envloop.store.provenance import write_read_set
from envloop.store.usage import StoredBytes, artifact_bytes, streamed_digests
from envloop.store.versions import (
    ArtifactSave,
    Change,
    latest_numbers,
    latest_versions,
    load_value,
    newest_version_id,
    worker_state,
    write_artifact,
    write_versions,
)
from envloop.warmup import warm

__all__ = ["BlockOutcome", "Environment", "restore_items"]

_INSERT_BLOCK = insert(Block.__table__)  # type: ignore[arg-type]

logger = logging.getLogger("envloop.environment")

MAX_ARTIFACT_BYTES = 32 << 20
#: Restore failures that may not happen again (time, a dead worker): not recorded as lost versions.
_PASSING_FAILURES = ("ran out of time", "ran longer than", "TimeoutError", "WorkerCrashed", "MemoryError",
                     "KeyboardInterrupt")


@dataclass
class BlockOutcome:
    """What a block did and which versions it wrote."""

    block_id: int
    result: RunResult
    changed: list[tuple[str, int, str]] = field(default_factory=list)  # (name, version, kind)
    artifacts: list[tuple[str, int]] = field(default_factory=list)
    #: Values the block changed that are not stored: {"name", "reason", "size"} (see envloop.limits).
    not_stored: list[dict[str, Any]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Names the block bound, mutated or deleted."""
        seen = dict.fromkeys([*self.result.bound, *self.result.deleted, *(n for n, _, _ in self.changed)])
        return list(seen)


def restore_items(session: Any, rows: Sequence[DefinitionVersion]) -> list[dict[str, Any]]:
    """The restore frames' items for these versions, in a dependency-safe order.

    Imports first, then functions and classes in the order they were made, then
    data (whose own-class instances need those classes), tombstones last.
    """
    rank = {"import": 0, "function": 1, "class": 1, "value": 2, "deleted": 3}
    items = []
    for row in sorted(rows, key=lambda r: (rank[r.kind], r.id)):
        item: dict[str, Any] = {"name": row.name, "kind": row.kind, "source": row.source, "id": row.id}
        if row.value_sha256:  # values, functions (as data) and a class's attributes
            item["value"] = load_value(session, row.value_sha256)
        elif row.kind == "value":
            item["lost_reason"] = row.lost_reason or "no stored value"
        items.append(item)
    return items


class Environment:
    """The live state of one conversation in this process."""

    def __init__(
        self,
        database: Database,
        conversation_id: int,
        workspace: Path,
        *,
        timeout: float | None = None,
        extensions: Any = None,
        approve: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.database = database
        self.conversation_id = conversation_id
        self.workspace = Path(workspace)
        self.lock = ConversationLock(database, conversation_id)
        self.file = FileIdentity(database)
        self.extensions = extensions
        self.approve = approve  # for direct runs; a turn brings its channel's own
        self._turn: Any = None
        self._answer: str | None = None
        self._functions: dict[str, Callable[..., Any]] = {
            "save_artifact": self._save_artifact,
            "load_artifact": self._load_artifact,
            "answer": self._set_answer,
        }
        for name in (extensions.functions if extensions is not None else {}):
            self._functions[name] = self._extension_caller(name)
        self._synced_id = 0
        self._diverged = False
        self.lost: dict[str, str] = {}
        self._pending_saves: list[ArtifactSave] = []
        self._artifact_reads: list[int] = []
        self._pending_instructions: list[str | None] = []  # approved propose_instructions() calls
        self._timeout = timeout
        self.limits = Limits.from_env()
        self.chunks = SpoolChunkStore(database)  # values and artifacts stream here, then to the block's transaction
        self._artifact_base: int | None = None
        self._stored = StoredBytes(conversation_id)  # for ENVLOOP_MAX_CONVERSATION_BYTES
        self._warm = False
        self.sandbox = self._new_sandbox()

    def _new_sandbox(self) -> Sandbox:
        return Sandbox(
            self.workspace,
            timeout=self._timeout,
            on_call=self._on_call,
            on_restart=lambda _sandbox: self._restore(after_id=0),
            host_functions=list(self._functions),
            chunk_store=self.chunks,
            max_value_bytes=self.limits.value_bytes,
            while_waiting=self._while_waiting,
        )

    def _while_waiting(self, answered: Callable[[], bool]) -> bool:
        """While the worker runs: compile the statements storing its block will run (envloop.warmup),
        and open the chunk store's probe, which answers the worker's offers."""
        self.chunks.prepare()
        if not self._warm:
            self._warm = warm(self.database.engine, answered)
        return self._warm

    # -- life cycle -----------------------------------------------------------

    def start(self, *, locked: bool = False) -> None:
        """Mark turns orphaned by a dead process as interrupted, then restore the namespace.

        ``locked``: the caller already holds ``self.lock`` (it waited for it visibly, envloop.waiting).
        """
        with nullcontext() if locked else self.lock:
            with self.database.session(write=True) as session:
                session.execute(
                    update(Query)
                    .where(Query.conversation_id == self.conversation_id, Query.status == "running")
                    .values(status="interrupted", finished_at=utcnow(),
                            error="the process running this turn stopped before it finished")
                    .execution_options(synchronize_session=False)
                )
            self._restore(after_id=0)

    def close(self) -> None:
        self.sandbox.close()
        self.chunks.close()

    def _restore(self, after_id: int) -> None:
        """Send the worker every name changed after ``after_id`` (0: everything)."""
        self._stored.reset()  # someone else wrote versions: count the stored bytes again
        with self.database.session() as session:
            rows = latest_versions(session, self.conversation_id, after_id=after_id, worker_state=True)
            if after_id == 0:
                rows = [r for r in rows if r.kind != "deleted"]
            items = restore_items(session, rows)
            newest = session.scalar(
                select(func.max(DefinitionVersion.id)).where(DefinitionVersion.conversation_id == self.conversation_id)
            )
        if items:
            report = self.sandbox.restore(items)
            for name in report.get("restored", []):
                self.lost.pop(name, None)
            for failure in report.get("failed", []):
                self.lost[failure["name"]] = failure["error"]
                logger.warning("could not restore %s: %s", failure["name"], failure["error"])
        self._synced_id = newest or 0
        if items:
            stored_lost = {i["name"] for i in items if i.get("lost_reason")}  # lost when its block ran
            self._record_lost([f for f in report.get("failed", []) if f.get("name") not in stored_lost])

    def _record_lost(self, failures: list[dict[str, Any]]) -> None:
        """A name a restore could not rebuild gets a new version marked lost, with the reason.

        Then ``vars`` (in any process) says so instead of calling it live, and the next
        resume does not try again; the version before stays in the history, so a rollback
        can still reach it. Failures of the moment (a deadline, a worker that died) are not
        recorded: they may not happen again.
        """
        lasting = [f for f in failures if not str(f.get("name", "")).startswith("@")
                   and not any(word in str(f.get("error")) for word in _PASSING_FAILURES)]
        if not lasting or not self.lock.held:
            return
        try:
            with self.database.session(write=True) as session:
                rows = write_versions(session, conversation_id=self.conversation_id, block_id=None, changes=[
                    cast(Change, {"name": f["name"], "kind": "value", "preview": "<not restored>",
                                  "lost_reason": f"{f['name']}: could not be restored: {f['error']}"[:2000]})
                    for f in lasting])
                self._synced_id = max([self._synced_id, *(r.id for r in rows)])
        except Exception as exc:  # a read-only database: the names stay listed in self.lost
            logger.warning("could not record the names a restore lost: %s", exc)

    def sync(self) -> None:
        """Catch up on versions written by other processes (call with the lock held).

        After a block whose results could not be stored (the database went
        away, the lock was lost), the worker is replaced and restored from the
        database, so the namespace is again exactly the stored state.
        """
        if self._diverged:
            self.sandbox.close()
            self.sandbox = self._new_sandbox()
            self.lost = {}
            self._restore(after_id=0)
            self._diverged = False
            return
        if newest_version_id(self.database, self.conversation_id) > self._synced_id:
            self._restore(after_id=self._synced_id)

    def note_written(self, version_ids: Sequence[int]) -> None:
        """Versions this process wrote for values the worker already holds (a recompute's refresh)."""
        self._synced_id = max([self._synced_id, *version_ids])

    # -- running blocks ---------------------------------------------------------

    def run_block(
        self,
        source: str,
        *,
        author: str,
        query_id: int | None,
        iteration_id: int | None = None,
        position: int = 0,
        timeout: float | None = None,
        finish: Callable[[Any, BlockOutcome], None] | None = None,
        sync: bool = True,
    ) -> BlockOutcome:
        """Run one block and persist it with its versions; the caller holds ``self.lock``.

        ``finish(session, outcome)`` runs inside the same transaction, so the
        caller's own bookkeeping (a turn's status) commits with the block.
        ``sync=False`` skips the catch-up check: a turn syncs once when it takes
        the lock, and nobody else can write while it holds it.
        """
        if not self.lock.held:
            raise SandboxError("run_block needs the conversation lock")
        self.file.check()  # the database file deleted or replaced under us: write nothing
        if sync:
            self.sync()
        self._pending_saves, self._artifact_reads, self._artifact_base = [], [], None
        self._pending_instructions = []
        self.chunks.reset()
        restarts = self.sandbox.restarts
        result = self.sandbox.run(source, timeout=timeout)
        if self.sandbox.restarts != restarts:  # killed: nothing it made is stored as if it had finished
            self._pending_saves, self._pending_instructions = [], []
        try:
            return self._store_block(source, author, query_id, iteration_id, position, result, finish)
        except BaseException:
            self._diverged = True  # the worker ran a block the database does not have
            raise

    def _store_block(self, source: str, author: str, query_id: int | None, iteration_id: int | None,
                     position: int, result: RunResult,
                     finish: Callable[[Any, BlockOutcome], None] | None) -> BlockOutcome:
        """The block's row, its versions and the caller's bookkeeping, in one transaction."""
        with self.database.session(write=True) as session:
            block_id = cast(Any, session.execute(_INSERT_BLOCK, dict(
                conversation_id=self.conversation_id,
                query_id=query_id,
                iteration_id=iteration_id,
                position=position,
                author=author,
                source=source,
                stdout=result.stdout,
                result_preview=result.result,
                error_type=(result.error or {}).get("type"),
                error_message=(result.error or {}).get("message"),
                error_line=(result.error or {}).get("line"),
                limit_hit=result.limit,
                duration_ms=result.duration_ms,
            ))).inserted_primary_key[0]  # Core, built once: the ORM's unit of work cost more than the insert
            outcome = self._persist(session, block_id, result, source)
            self.lock.confirm(session)  # still ours (a lease can lapse, a server restart drop it)
            if finish is not None:
                finish(session, outcome)
        return outcome

    def _persist(self, session: Any, block_id: int, result: RunResult, source: str) -> BlockOutcome:
        reads = {n for n in result.read if is_user_name(n)}
        numbers = latest_numbers(session, self.conversation_id, reads | {c["name"] for c in result.changes})
        read_ids = [numbers[n][0] for n in sorted(reads) if n in numbers]
        changes, not_stored = self._stored.admit(session, result.changes, self.limits.conversation_bytes,
                                                 [numbers[c["name"]][0] for c in result.changes if c["name"] in numbers])
        self.chunks.commit(session, streamed_digests(changes) + [s.digest for s in self._pending_saves if s.digest])
        read_set = write_read_set(session, self.conversation_id, read_ids, self._artifact_reads)
        rows = write_versions(
            session,
            conversation_id=self.conversation_id,
            block_id=block_id,
            changes=[cast(Change, change) for change in changes],
            read_version_ids=read_ids,
            read_artifact_ids=self._artifact_reads,
            numbers=numbers,
            read_set_id=read_set,
        )
        assign_read_sets(session, self.conversation_id, block_id, source, rows, numbers, self._artifact_reads,
                         result.trace, looked_up=reads)
        outcome = BlockOutcome(block_id, result, [(r.name, r.version, r.kind) for r in rows if not worker_state(r.name)],
                               not_stored=not_stored)
        for save in self._pending_saves:
            art = write_artifact(
                session,
                conversation_id=self.conversation_id,
                block_id=block_id,
                save=save,
                read_version_ids=read_ids,
                read_artifact_ids=self._artifact_reads,
                read_set_id=read_set,
            )
            outcome.artifacts.append((art.name, art.version))
        for text in self._pending_instructions:
            made = instructions.write_version(session, self.conversation_id, text, block_id=block_id)
            outcome.changed.append((made.name, made.version, made.kind))
        session.flush()
        newest = max([self._synced_id, *(r.id for r in rows)])
        self._synced_id = newest
        for row in rows:
            if row.lost_reason:
                self.lost[row.name] = row.lost_reason
            else:
                self.lost.pop(row.name, None)
        return outcome

    # -- turns and extensions --------------------------------------------------

    def begin_turn(self, turn: Any) -> None:
        """Route llm_query, approvals and answer() to the running turn."""
        self._turn, self._answer = turn, None

    def end_turn(self) -> None:
        self._turn, self._answer = None, None

    def take_answer(self) -> str | None:
        """The value code passed to answer() in the last block, if any (once)."""
        answer, self._answer = self._answer, None
        return answer

    def extension_docs(self) -> str:
        return self.extensions.prompt() if self.extensions is not None else ""

    def nudges(self, state: dict[str, Any]) -> list[str]:
        return list(self.extensions.nudges(state)) if self.extensions is not None else []

    def _set_answer(self, value: Any = None) -> None:
        if type(value) is not str:
            raise TypeError("answer(value): the worker sends the answer as text")
        self._answer = value

    def _approve(self, name: str, description: str) -> bool:
        """Ask the person (through the channel); the wait does not count against the block's deadline."""
        turn = self._turn
        approve = turn.approve if turn is not None else self.approve
        if turn is not None:
            turn.emit("approval_needed", function=name, description=description)
        if approve is None:
            return False
        asked = time.monotonic()
        try:
            return bool(approve(name, description))
        finally:
            self.sandbox.pause_deadline(time.monotonic() - asked)

    def _extension_caller(self, name: str) -> Callable[..., Any]:
        from envloop.extensions_api import CallContext

        def call(*args: Any, **kwargs: Any) -> Any:
            turn = self._turn
            context = CallContext(
                conversation_id=self.conversation_id,
                workspace=self.workspace,
                save_artifact=self._record_artifact,
                ask_model=turn.ask_model if turn is not None else None,
                approve=self._approve,
                workspace_bytes=self.limits.workspace_bytes,
                set_instructions=self._queue_instructions,
            )
            value = self.extensions.call(name, context, list(args), kwargs)
            if type(value) in (bytes, bytearray):
                return {"__bytes__": base64.b64encode(value).decode()}
            return value

        return call

    def _queue_instructions(self, text: str | None) -> int:
        """Queue an approved change of the instructions for the block's transaction; its version number."""
        with self.database.session() as session:
            number = instructions.next_version(session, self.conversation_id) + len(self._pending_instructions)
        self._pending_instructions.append(text)
        return number

    def _record_artifact(self, name: str, data: bytes, media_type: str | None) -> int:
        """Queue an artifact version for the running block's transaction; its version number.

        Used by ``save_artifact`` from code and by extensions (each ``write_file``).
        """
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ValueError(f"artifact {name!r} is larger than {MAX_ARTIFACT_BYTES >> 20} MiB")
        self._check_artifact_quota(name, len(data))
        digest = hashlib.sha256(data).hexdigest()
        self.chunks.put(digest, data)  # spooled past the first few MiB: a block may save many
        self._pending_saves.append(ArtifactSave(name, b"", media_type, digest=digest, size=len(data)))
        with self.database.session() as session:
            newest = session.scalar(
                select(func.max(ArtifactVersion.version)).where(
                    ArtifactVersion.conversation_id == self.conversation_id, ArtifactVersion.name == name
                )
            )
        return (newest or 0) + sum(1 for s in self._pending_saves if s.name == name)

    def _check_artifact_quota(self, name: str, size: int) -> None:
        """Refuse a save that would take the conversation's artifacts over ENVLOOP_MAX_ARTIFACT_BYTES."""
        if self._artifact_base is None:
            with self.database.session() as session:
                self._artifact_base = artifact_bytes(session, self.conversation_id)
        total = self._artifact_base + sum(s.size for s in self._pending_saves) + size
        if total > self.limits.artifact_bytes:
            raise ValueError(f"artifact {name!r} not saved: the conversation's artifacts would reach {human(total)}, "
                             f"over their quota of {human(self.limits.artifact_bytes)} (ENVLOOP_MAX_ARTIFACT_BYTES)")

    # -- host functions called from sandbox code -----------------------------

    def _on_call(self, fn: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        handler = self._functions.get(fn)
        if handler is None:
            raise NameError(f"no host function {fn!r}")
        return handler(*args, **kwargs)

    def _save_artifact(self, name: Any, data: Any, media_type: Any = None) -> dict[str, Any]:
        if type(name) is not str or not name or len(name) > 500:
            raise TypeError("save_artifact(name, data): name must be a non-empty str of at most 500 characters")
        if type(data) is str:
            payload, default_type = data.encode(), "text/plain"
        elif type(data) is dict and set(data) == {"__bytes__"} and type(data["__bytes__"]) is str:
            payload, default_type = base64.b64decode(data["__bytes__"]), "application/octet-stream"
        else:
            raise TypeError("save_artifact(name, data): data must be str or bytes")
        if media_type is not None and type(media_type) is not str:
            raise TypeError("save_artifact: media_type must be a str or None")
        return {"name": name, "version": self._record_artifact(name, payload, media_type or default_type)}

    def _load_artifact(self, name: Any, version: Any = None) -> Any:
        if type(name) is not str:
            raise TypeError("load_artifact(name, version=None): name must be a str")
        if version is not None and type(version) is not int:
            raise TypeError("load_artifact: version must be an int or None")
        pending = [s for s in self._pending_saves if s.name == name]
        if version is None and pending:
            return _artifact_value(self.chunks.get(pending[-1].digest or "") or b"", pending[-1].media_type)
        with self.database.session() as session:
            stmt = select(ArtifactVersion).where(
                ArtifactVersion.conversation_id == self.conversation_id, ArtifactVersion.name == name
            )
            stmt = stmt.where(ArtifactVersion.version == version) if version else stmt.order_by(
                ArtifactVersion.version.desc()
            )
            row = session.scalars(stmt.limit(1)).first()
            if row is None:
                raise FileNotFoundError(f"no artifact {name!r}" + (f" version {version}" if version else ""))
            self._artifact_reads.append(row.id)
            return _artifact_value(session.get_one(Blob, row.content_sha256).data, row.media_type)


def _artifact_value(data: bytes, media_type: str | None) -> Any:
    """Text artifacts come back as str, others as bytes (sent as base64 over the pipe)."""
    if (media_type or "").startswith("text/") or media_type in ("application/json",):
        try:
            return data.decode()
        except UnicodeDecodeError:
            pass
    return {"__bytes__": base64.b64encode(data).decode()}
