"""The query engine (one user turn) and the iteration engine (one model round trip).

A turn: validate the text, store it, then up to ``max_iterations`` times —
assemble the context (envloop.prompt), ask the model, run each fenced block in
the conversation's sandbox (every block persisted with its versions), decide.
It ends when code calls ``answer(value)``, when a reply has no code block (the
reply is the answer), when the model fails (error), when it is cancelled, or
when the iterations run out (budget_exhausted, with the best partial answer).
The turn holds the conversation's lock throughout, so turns on one
conversation run one at a time across processes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update

from envloop.environment import BlockOutcome, Environment
from envloop.errors import EnvloopError, ModelError
from envloop.instructions import current as current_instructions
from envloop.llm import Completion, ModelCancelled, ModelClient, StreamBroken, complete, parse_reply
from envloop.prompt import (
    BlockReport,
    Frame,
    JournalEntry,
    PromptParts,
    VarLine,
    build_messages,
    system_prompt,
    with_instructions,
)
from envloop.stale import stale_names
from envloop.store.db import insert_missing
from envloop.store.history import var_index
from envloop.store.models import Iteration, Query, SystemPrompt, utcnow
from envloop.timeline import new_query
from envloop.waiting import holding

__all__ = ["MAX_QUERY_CHARS", "Event", "Turn", "TurnResult"]

MAX_QUERY_CHARS = 32_000
JOURNAL_TURNS = 12
MAX_SUBCALLS = 32  # llm_query calls per turn


@dataclass(frozen=True)
class Event:
    """Something a channel may show while a turn runs.

    kinds: turn_started, iteration_started, model_delta (a piece of the reply
    as it streams in: ``text``), model_broken (the stream stopped part-way:
    ``text`` so far, ``error``), model_reply, block_started, block_finished,
    definition_changed, approval_needed, answer, error, budget; and waiting
    (before the turn starts, when another turn holds the conversation:
    ``message``, ``channel``, ``since``...; see envloop.waiting).
    """

    kind: str
    data: dict[str, Any]


@dataclass
class TurnResult:
    conversation_id: int
    turn: int
    query_id: int
    status: str
    answer: str | None
    iterations: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    duration_ms: float = 0.0
    names: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "turn": self.turn,
            "answer": self.answer,
            "status": self.status,
            "iterations": self.iterations,
            "tokens": {"in": self.tokens_in, "out": self.tokens_out},
            "cost": self.cost,
            "duration_ms": round(self.duration_ms, 3),
            "names": self.names,
            "error": self.error,
        }


def _report(source: str, outcome: BlockOutcome) -> BlockReport:
    """What the model sees of a block next iteration: its code, output, value, error and traceback."""
    result = outcome.result
    error = None
    frames: list[Frame] = []
    if result.error:
        frames = [Frame(f["where"], f["line"], f["text"]) for f in result.error.get("frames") or ()]
        line = f" (line {result.error['line']})" if result.error.get("line") and not frames else ""
        error = f"{result.error['type']}{line}: {result.error['message']}"
    block_lines = [f.line for f in frames if f.where == "block"]
    error_line = block_lines[-1] if block_lines else (result.error or {}).get("line")
    stdout = result.stdout + "".join(f"\n[not stored] {item['reason']}" for item in outcome.not_stored)
    return BlockReport(source, stdout, result.result, error, result.limit, frames, error_line)


class Turn:
    """One user turn on one conversation."""

    def __init__(
        self,
        env: Environment,
        model: ModelClient,
        *,
        max_iterations: int = 8,
        on_event: Callable[[Event], None] | None = None,
        cancel: threading.Event | None = None,
        approve: Callable[[str, str], bool] | None = None,
    ) -> None:
        if max_iterations < 1:
            raise EnvloopError("--max-iterations must be at least 1")
        self.env = env
        self.model = model
        self.max_iterations = max_iterations
        self.cancel = cancel or threading.Event()
        self.approve = approve  # the channel's yes/no for irreversible extension calls
        self._emit = on_event or (lambda event: None)
        self.tokens_in = self.tokens_out = 0
        self.cost: float | None = None
        self.names: dict[str, None] = {}
        self.query_id: int | None = None
        self.subcalls = 0
        self.empty_replies = 0
        self.journal: list[JournalEntry] = []
        self.variables: dict[str, VarLine] = {}
        self.system = ""
        self.system_id: int | None = None

    # -- bookkeeping ------------------------------------------------------------

    def emit(self, event_kind: str, /, **data: Any) -> None:
        try:
            self._emit(Event(event_kind, data))
        except Exception:  # a channel's display failure must not break the turn
            pass

    def count(self, completion: Completion) -> None:
        self.tokens_in += completion.tokens_in
        self.tokens_out += completion.tokens_out
        if completion.cost is not None:
            self.cost = (self.cost or 0.0) + completion.cost

    def ask_model(self, prompt: str) -> str:
        """``llm_query`` from sandbox code: a sub-call counted against this turn's budgets."""
        self.subcalls += 1
        if self.subcalls > MAX_SUBCALLS:
            raise RuntimeError(f"llm_query: this turn's budget of {MAX_SUBCALLS} sub-calls is used up")
        completion = self.model.complete([{"role": "user", "content": prompt}], cancel=self.cancel)
        self.count(completion)
        return completion.text

    def _system_prompt_id(self, session: Any, text: str) -> int:
        digest = hashlib.sha256(text.encode()).hexdigest()
        found = session.scalar(select(SystemPrompt.id).where(SystemPrompt.sha256 == digest))
        if found is None:  # stored once; another process may be storing the same prompt right now
            insert_missing(session, SystemPrompt, [{"sha256": digest, "text": text}], "sha256")
            found = session.scalar(select(SystemPrompt.id).where(SystemPrompt.sha256 == digest))
        return int(found)

    def _load_context(self, session: Any, conversation_id: int, position: int) -> None:
        """The journal and the var index, read once per turn (the turn holds the lock: only
        its own blocks change the namespace, and :meth:`_note_changes` follows them)."""
        earlier = session.scalars(
            select(Query)
            .where(Query.conversation_id == conversation_id, Query.position < position, Query.kind == "turn")
            .order_by(Query.position.desc())
            .limit(JOURNAL_TURNS)
        )
        self.journal = [JournalEntry(q.position, q.text, q.answer, q.status) for q in reversed(list(earlier))]
        stale = stale_names(session, conversation_id)
        self.variables = {
            v.name: VarLine(v.name, v.type_name or v.kind, v.size, v.preview or "", v.status == "lost",
                            stale[v.name].reason if v.name in stale else None)
            for v in var_index(session, conversation_id)
        }

    def _note_changes(self, outcome: BlockOutcome) -> None:
        """Move changed names to the front of the var index (newest first), drop deleted ones.

        When the block gave a name that existed a new version, names derived from
        the old one may now be stale: the marks are read again (a constant number
        of queries), so the model's next prompt says so within the turn.
        """
        redefined = any(c["name"] in self.variables for c in outcome.result.changes)
        for change in outcome.result.changes:
            name = change["name"]
            if name.startswith("@"):  # module state such as @random: stored, not a variable
                continue
            self.variables.pop(name, None)
            if change["kind"] != "deleted":
                line = VarLine(name, change.get("type_name") or change["kind"], change.get("size"),
                               change.get("preview") or "", bool(change.get("lost_reason")))
                self.variables = {name: line, **self.variables}
        if redefined:
            with self.env.database.session() as session:
                stale = stale_names(session, self.env.conversation_id)
            self.variables = {name: dataclasses.replace(line, stale=stale[name].reason if name in stale else None)
                              for name, line in self.variables.items()}

    # -- the turn ---------------------------------------------------------------

    def run(self, text: str) -> TurnResult:
        """Run the turn to its end and return how it ended (never raises for model or code failures)."""
        if not text.strip():
            raise EnvloopError("the message is empty")
        if len(text) > MAX_QUERY_CHARS:
            raise EnvloopError(f"the message is too long ({len(text)} characters; at most {MAX_QUERY_CHARS})")
        started = time.perf_counter()
        env = self.env
        with holding(env.lock, cancel=self.cancel, on_wait=lambda info: self.emit("waiting", **info)):
            env.sync()
            with env.database.session(write=True) as session:
                query = new_query(session, env.conversation_id, kind="turn", text=text)
                query.model = self.model.name
                query_id, position = query.id, query.position
                self._load_context(session, env.conversation_id, position)
                self.system = with_instructions(system_prompt(env.extension_docs()),
                                                current_instructions(session, env.conversation_id).text)
                self.system_id = self._system_prompt_id(session, self.system)
            self.query_id = query_id
            self.emit("turn_started", conversation_id=env.conversation_id, turn=position, text=text)
            env.begin_turn(self)
            try:
                status, answer, iterations, error = self._iterate(query_id, text)
            except BaseException:
                self._finish(query_id, "error", None, 0, "the turn stopped unexpectedly", started)
                raise
            finally:
                env.end_turn()
            result = self._finish(query_id, status, answer, iterations, error, started)
        if status == "done":
            self.emit("answer", answer=answer, result=result)
        elif status == "budget_exhausted":
            self.emit("budget", answer=answer, result=result)
        elif status in ("error", "cancelled"):
            self.emit("error", status=status, message=error, result=result)
        return result

    def _finish(self, query_id: int, status: str, answer: str | None, iterations: int, error: str | None,
                started: float) -> TurnResult:
        duration = (time.perf_counter() - started) * 1000.0
        with self.env.database.session(write=True) as session:
            query = session.get_one(Query, query_id)
            query.status, query.answer, query.error = status, answer, error
            query.iteration_count = iterations
            query.tokens_in, query.tokens_out, query.cost = self.tokens_in, self.tokens_out, self.cost
            query.duration_ms, query.finished_at = duration, utcnow()
            position = query.position
        return TurnResult(self.env.conversation_id, position, query_id, status, answer, iterations,
                          self.tokens_in, self.tokens_out, self.cost, duration, list(self.names), error)

    def _iterate(self, query_id: int, text: str) -> tuple[str, str | None, int, str | None]:
        """The iteration loop; returns (status, answer, iterations run, error)."""
        thinking: str = ""
        reports: list[BlockReport] = []
        errors: list[str] = []
        for number in range(1, self.max_iterations + 1):
            if self.cancel.is_set():
                return "cancelled", None, number - 1, "cancelled by the user"
            nudges = self.env.nudges({"iteration": number, "max_iterations": self.max_iterations, "errors": errors})
            nudge = _repeated_error(errors) if any(r.error for r in reports) else None
            if nudge:
                nudges.append(nudge)
            if self.empty_replies and number > 1 and not thinking and not reports:
                nudges.append("Your previous reply was empty: answer in text, or write a ```python block.")
            parts = PromptParts(text, number, self.max_iterations, self.journal, list(self.variables.values()),
                                thinking, reports, nudges)
            messages = build_messages(self.system, parts)
            with self.env.database.session(write=True) as session:
                iteration_id = session.execute(
                    insert(Iteration).values(query_id=query_id, position=number, prompt=messages[1]["content"],
                                             system_prompt_id=self.system_id, created_at=utcnow())
                ).inserted_primary_key[0]  # type: ignore[attr-defined]
            self.emit("iteration_started", iteration=number, max_iterations=self.max_iterations)
            outcome = self._one_iteration(iteration_id, messages)
            if outcome is None:
                return "cancelled", None, number, "cancelled by the user"
            if isinstance(outcome, str):
                return "error", None, number, outcome
            thinking, reports, final = outcome
            errors.extend(r.error for r in reports if r.error)
            if final is not None:
                return "done", final, number, None
            if self.cancel.is_set():
                return "cancelled", None, number, "cancelled by the user"
        partial = _best_partial(thinking, reports)
        return "budget_exhausted", partial, self.max_iterations, f"no answer after {self.max_iterations} iterations"

    def _one_iteration(
        self, iteration_id: int, messages: list[dict[str, str]]
    ) -> tuple[str, list[BlockReport], str | None] | str | None:
        """Ask the model and run its blocks: (thinking, reports, answer or None), an error text, or None if cancelled.

        The reply streams: each piece is a ``model_delta`` event as it arrives.  A
        stream that breaks (or is cancelled) part-way keeps what arrived in the
        iteration's ``raw_reply``, and the error says how far it got.
        """
        try:
            completion = complete(self.model, messages, cancel=self.cancel,
                                  on_text=lambda text: self.emit("model_delta", text=text))
        except ModelError as exc:
            partial = exc.partial if isinstance(exc, (StreamBroken, ModelCancelled)) else ""
            self._record(iteration_id, error=str(exc), raw_reply=partial or None)
            if partial:
                self.emit("model_broken", text=partial, error=str(exc))
            return None if self.cancel.is_set() else str(exc)
        if self.cancel.is_set():
            return None
        self.count(completion)
        parsed = parse_reply(completion.text)
        self._record(iteration_id, raw_reply=completion.text, thinking=parsed.thinking,
                     tokens_in=completion.tokens_in, tokens_out=completion.tokens_out,
                     cost=completion.cost, duration_ms=completion.duration_ms)
        self.emit("model_reply", thinking=parsed.thinking, blocks=len(parsed.blocks))
        if not parsed.blocks:
            if not (parsed.thinking or completion.text.strip()):
                self.empty_replies += 1  # nothing to answer with: nudge and ask again
                return "", [], None
            return parsed.thinking, [], parsed.thinking or completion.text.strip()
        reports: list[BlockReport] = []
        for position, source in enumerate(parsed.blocks):
            self.emit("block_started", source=source, position=position)
            outcome = self.env.run_block(source, author="llm", query_id=self.query_id,
                                         iteration_id=iteration_id, position=position, sync=False)
            self._note_changes(outcome)
            report = _report(source, outcome)
            reports.append(report)
            for name, version, kind in outcome.changed:
                self.names[name] = None
                self.emit("definition_changed", name=name, version=version, kind=kind)
            self.emit("block_finished", source=source, position=position, stdout=outcome.result.stdout,
                      result=outcome.result.result, error=report.error, limit=outcome.result.limit,
                      duration_ms=outcome.result.duration_ms,
                      not_stored=[item["reason"] for item in outcome.not_stored],
                      traceback=[f"{f.where}" + (f", line {f.line}" if f.line else "") + (f": {f.text}" if f.text
                                 else "") for f in report.frames])
            answered = self.env.take_answer()
            if answered is not None:
                return parsed.thinking, reports, answered
            if report.error or self.cancel.is_set():
                break  # later blocks usually depend on this one; the model sees the error next
        return parsed.thinking, reports, None

    def _record(self, iteration_id: int, **values: Any) -> None:
        with self.env.database.session(write=True) as session:
            session.execute(update(Iteration).where(Iteration.id == iteration_id).values(**values))


def _repeated_error(errors: list[str]) -> str | None:
    """A nudge when the last errors are the same one: the model is stuck on an approach."""
    if len(errors) < 2 or errors[-1] != errors[-2]:
        return None
    times = 2
    while times < len(errors) and errors[-times - 1] == errors[-1]:
        times += 1
    count = "twice" if times == 2 else f"{times} times"
    return (f"The same error happened {count} in a row ({errors[-1][:200]}): read the traceback "
            "and the numbered code, and change the approach instead of repeating it.")


def _best_partial(thinking: str, reports: list[BlockReport]) -> str | None:
    """When the iterations run out: the last block's output or value, else the last thinking."""
    for report in reversed(reports):
        if report.result is not None:
            return report.result
        if report.stdout.strip():
            return report.stdout.strip()
    return thinking.strip() or None
