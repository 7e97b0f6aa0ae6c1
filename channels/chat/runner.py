"""Running a turn off the main thread, so the screen stays live and Ctrl-C cancels only the turn.

The turn (or a ``!`` block) runs in a worker thread. Everything it wants from
the person comes back to the main thread through one queue: engine events
to render and approval questions to ask. So only the main thread ever touches
the terminal — the spinner, rich and prompt-toolkit never race — and an
approval asked from deep inside the turn is answered by the same loop that
draws the turn.

Ctrl-C while work runs is turned into a flag by a SIGINT handler (a handler
must do next to nothing); the loop sees the flag within a tenth of a second
and calls the work's ``cancel``. The app itself never sees KeyboardInterrupt.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from envloop.channels.chat.render import View
from envloop.conversation import Event

__all__ = ["Foreground"]

T = TypeVar("T")
_POLL_SECONDS = 0.1


@dataclass
class _Approval:
    function: str
    description: str
    reply: queue.Queue[bool] = field(default_factory=lambda: queue.Queue(maxsize=1))


class _Done:
    """Put on the queue after the work's last event: the loop may stop."""


class Foreground:
    """Runs work in a thread while this thread renders its events and answers its approvals."""

    def __init__(self, view: View, confirm: Callable[[str], bool]) -> None:
        self.view = view
        self.confirm = confirm  # asks a yes/no question on the terminal (main thread only)
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._pumping = False

    @property
    def pumping(self) -> bool:
        """True while work runs in its thread and this loop renders what it posts."""
        return self._pumping

    # -- called from the worker thread --------------------------------------------

    def post(self, event: Event) -> None:
        """The turn's ``on_event``: hand the event to the main thread."""
        self._inbox.put(event)

    def approve(self, function: str, description: str) -> bool:
        """The turn's ``approve``: ask on the main thread and wait for the answer (no if nobody can ask)."""
        if not self._pumping:
            return False
        request = _Approval(function, description)
        self._inbox.put(request)
        return request.reply.get()

    # -- called from the main thread -------------------------------------------------

    def run(self, work: Callable[[], T], cancel: Callable[[], object], status: str) -> T:
        """Run ``work`` in a thread, render what it reports, and return its value (or raise its error)."""
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # handed to the main thread, raised there
                outcome["error"] = exc
            finally:
                self._inbox.put(_Done())

        interrupted = threading.Event()
        thread = threading.Thread(target=target, name="envloop-chat-turn", daemon=True)
        with _sigint_sets(interrupted), self.view.working(status):
            self._pumping = True
            thread.start()
            try:
                self._pump(interrupted, cancel)
            finally:
                self._pumping = False
        thread.join()
        self._drain()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _pump(self, interrupted: threading.Event, cancel: Callable[[], object]) -> None:
        """Render events and answer approvals until the work is done; Ctrl-C calls ``cancel``."""
        while True:
            if interrupted.is_set():
                interrupted.clear()
                self.view.notice(f"cancelling{self.view.g.ellipsis}")
                cancel()
            try:
                item = self._inbox.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, _Done):
                return
            if isinstance(item, _Approval):
                item.reply.put(self._ask(item, interrupted))
                continue
            try:
                self.view.event(item)
            except Exception as exc:  # a drawing failure must not stop the pump (the turn waits on it)
                self.view.error(f"could not show a {item.kind} event: {type(exc).__name__}: {exc}")

    def _ask(self, request: _Approval, interrupted: threading.Event) -> bool:
        """Ask on the terminal; Ctrl-C there denies the call and cancels the turn, as Ctrl-C does anywhere."""
        question = self.view.safe(f"Allow {request.function}: {request.description}?")
        with self.view.paused():
            try:
                allowed = bool(self.confirm(question))
            except KeyboardInterrupt:
                allowed = False
                interrupted.set()
            except EOFError:
                allowed = False
        self.view.info(f"  {'allowed' if allowed else 'denied'} {request.function}")
        return allowed

    def _drain(self) -> None:
        """Refuse any approval still queued (the work has finished, nobody waits for it)."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Approval):
                item.reply.put(False)


@contextmanager
def _sigint_sets(flag: threading.Event) -> Iterator[None]:
    """While inside, SIGINT (Ctrl-C) sets ``flag`` instead of raising KeyboardInterrupt."""
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
