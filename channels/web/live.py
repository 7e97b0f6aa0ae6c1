"""Turns this server runs, and what each has shown so far.

A turn blocks (``Envloop.send``), so it runs in a thread of its own; the
engine's events are appended to the run's list as they happen, and every
page watching the conversation (one server-sent event stream each) reads
the list from where it stopped. A page opened in the middle of a turn sees
it from its start. An irreversible extension call asks the page: the turn's
thread waits (up to ``approval_timeout`` seconds; silence is a no) until a
POST from an approval button answers it.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field

from envloop.conversation import Envloop, Event
from envloop.errors import EnvloopError

__all__ = ["Approval", "Run", "Runner"]

_ids = itertools.count(1)


@dataclass
class Approval:
    """An irreversible call waiting for Allow/Deny."""

    key: str
    function: str
    description: str
    allowed: bool | None = None
    answered: threading.Event = field(default_factory=threading.Event)


class Run:
    """One turn (or ``!`` block) running in this server, with its events so far."""

    def __init__(self, conversation_id: int, text: str) -> None:
        self.id = next(_ids)
        self.conversation_id = conversation_id
        self.text = text
        self.events: list[Event] = []
        self.finished = threading.Event()
        self.cancel = threading.Event()
        self.approvals: dict[str, Approval] = {}
        self._guard = threading.Lock()

    def post(self, event: Event) -> None:
        """The turn's ``on_event`` (called from the turn's thread)."""
        if event.kind == "approval_needed":
            return  # the approval itself is posted by ``approve``, with its buttons
        with self._guard:
            self.events.append(event)

    def since(self, position: int) -> list[Event]:
        with self._guard:
            return self.events[position:]

    def approve(self, function: str, description: str, timeout: float) -> bool:
        """Ask the page; wait for a button (or ``timeout``, a no). Called from the turn's thread."""
        approval = Approval(secrets.token_urlsafe(8), function, description)
        self.approvals[approval.key] = approval
        self.post(Event("approval", {"key": approval.key, "function": function, "description": description}))
        if not approval.answered.wait(timeout) or self.cancel.is_set():
            approval.allowed = False
            reason = "denied: no answer in time" if not self.cancel.is_set() else "denied: the turn was cancelled"
        else:
            reason = "allowed" if approval.allowed else "denied"
        self.approvals.pop(approval.key, None)
        self.post(Event("approval_answered", {"key": approval.key, "function": function, "outcome": reason}))
        return bool(approval.allowed)

    def answer(self, key: str, allowed: bool) -> bool:
        """Record a button press; False when the question is no longer open."""
        approval = self.approvals.get(key)
        if approval is None or approval.answered.is_set():
            return False
        approval.allowed = allowed
        approval.answered.set()
        return True


class Runner:
    """The runs of this server, at most one at a time per conversation."""

    def __init__(self, app: Envloop, *, model: str | None = None, max_iterations: int = 8,
                 approval_timeout: float = 120.0) -> None:
        self.app = app
        self.model = model
        self.max_iterations = max_iterations
        self.approval_timeout = approval_timeout
        self._runs: dict[int, Run] = {}
        self._guard = threading.Lock()

    def current(self, conversation_id: int) -> Run | None:
        """The conversation's latest run in this server (running or finished), if any."""
        with self._guard:
            return self._runs.get(conversation_id)

    def start(self, conversation_id: int, text: str) -> Run:
        """Start a turn (or, for a line starting with ``!``, a direct block) in a new thread."""
        text = text.strip()
        if not text or text == "!":
            raise EnvloopError("the message is empty")
        with self._guard:
            running = self._runs.get(conversation_id)
            if running is not None and not running.finished.is_set():
                raise EnvloopError("a turn is already running in this conversation (cancel it first)")
            run = self._runs[conversation_id] = Run(conversation_id, text)
        thread = threading.Thread(target=self._work, args=(run,), name=f"envloop-web-run-{run.id}", daemon=True)
        thread.start()
        return run

    def _work(self, run: Run) -> None:
        cid = run.conversation_id
        try:
            if run.text.startswith("!"):
                run.post(Event("turn_started", {"conversation_id": cid, "turn": None, "text": run.text}))
                run.post(Event("block_started", {"source": run.text[1:].strip(), "position": 0}))
                report = self.app.run_code(run.text[1:].strip(), conversation_id=cid)
                run.post(Event("direct_result", {"report": report}))
            else:
                self.app.send(run.text, conversation_id=cid, model=self.model, max_iterations=self.max_iterations,
                              on_event=run.post, cancel=run.cancel,
                              approve=lambda f, d: run.approve(f, d, self.approval_timeout))
        except EnvloopError as exc:
            run.post(Event("failed", {"message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}))
        except Exception as exc:  # a page must learn the turn stopped, whatever stopped it
            run.post(Event("failed", {"message": f"{type(exc).__name__}: {exc}"}))
        finally:
            run.finished.set()

    def cancel(self, conversation_id: int) -> bool:
        """Cancel the conversation's running turn: the model wait stops, the block is interrupted."""
        run = self.current(conversation_id)
        if run is None or run.finished.is_set():
            return False
        run.cancel.set()
        for approval in list(run.approvals.values()):
            approval.answered.set()
        if not self.app.cancel(conversation_id):
            self.app.interrupt(conversation_id)
        return True

    def answer(self, conversation_id: int, key: str, allowed: bool) -> bool:
        run = self.current(conversation_id)
        return run is not None and run.answer(key, allowed)

    def shutdown(self) -> None:
        """Cancel every running turn (the server is stopping)."""
        with self._guard:
            cids = [cid for cid, run in self._runs.items() if not run.finished.is_set()]
        for cid in cids:
            self.cancel(cid)
