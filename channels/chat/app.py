"""The chat session: read a line, then run a turn, a ``!`` block or a slash command.

:class:`ChatApp` holds only what a screen needs — the open conversation, the
chosen model, the names for completion — and calls the conversation layer
for everything else. The same ``handle(line)`` serves the prompt-toolkit loop,
piped input and the demo, so what the demo shows is what a person gets.

A conversation is created lazily, by the first message or ``!`` line, so
opening and closing the chat leaves no empty conversation behind.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from rich.text import Text

from envloop.channels.chat import commands
from envloop.channels.chat.live import Follower, above_prompt
from envloop.channels.chat.render import View, make_console
from envloop.channels.chat.runner import Foreground
from envloop.conversation import Envloop, Event, RunReport, TurnResult
from envloop.errors import EnvloopError, ModelNotConfigured

__all__ = ["ChatApp", "open_chat"]

NAMES_IN_BANNER = 8


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _title(text: str) -> str:
    first = text.strip().split("\n", 1)[0]
    return first[:60]


class ChatApp:
    """One person at one terminal, on one conversation at a time."""

    def __init__(self, app: Envloop, view: View, *, conversation_id: int | None = None, model: str | None = None,
                 max_iterations: int = 8, confirm: Callable[[str], bool] | None = None) -> None:
        self.app = app
        app.channel = "chat"  # named to another process that waits for a conversation this chat holds
        self.view = view
        self.cid = conversation_id
        self.model = model
        self.max_iterations = max_iterations
        self.names: list[str] = []
        self.foreground = Foreground(view, confirm or (lambda question: False))
        # Direct runs (! lines) ask through the same loop; environments pick this up when they start.
        app.approve = self.foreground.approve
        # A ! line or a rollback waiting for another process's turn says so: through the loop while
        # work runs in its thread, else directly (commands run on this thread).
        app.on_wait = lambda info: (self.foreground.post(Event("waiting", info)) if self.foreground.pumping
                                    else view.notice(info["message"]))
        self.refresh_names()

    # -- state -------------------------------------------------------------------

    @property
    def prompt(self) -> str:
        return f"envloop {self.cid if self.cid is not None else 'new'}> "

    def refresh_names(self) -> None:
        """Re-read the names offered by completion (after anything that may change them)."""
        try:
            self.names = [entry.name for entry in self.app.vars(self.cid)] if self.cid is not None else []
        except EnvloopError:
            self.names = []

    def require_conversation(self) -> int:
        if self.cid is None:
            raise EnvloopError("no conversation yet: send a message or a !line to start one, or /resume ID")
        return self.cid

    def _ensure_conversation(self, text: str) -> int:
        if self.cid is None:
            self.cid = self.app.create_conversation(title=_title(text), channel="chat").id
        return self.cid

    def switch(self, conversation_id: int | None) -> None:
        """Open another conversation (None: a new one, created by the next message)."""
        self.cid = conversation_id
        self.refresh_names()
        if conversation_id is None:
            self.view.info("New conversation: it starts with your next message.")
            return
        shown = ", ".join(self.names[:NAMES_IN_BANNER])
        more = f" and {len(self.names) - NAMES_IN_BANNER} more" if len(self.names) > NAMES_IN_BANNER else ""
        names = f": {shown}{more}" if self.names else ""
        self.view.info(f"Conversation {conversation_id}, {len(self.names)} names{names}")

    # -- one line ----------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Act on one input line; False when the person asked to leave."""
        text = line.strip()
        if not text:
            return True
        try:
            if text.startswith("/"):
                return commands.dispatch(self, text)
            if text.startswith("!"):
                self.run_code(_code(text[1:]))
            else:
                self.send(text)
        except EnvloopError as exc:
            self.view.error(_one_line(exc))
        except Exception as exc:  # keep the chat alive; the message is enough to report it
            self.view.error(f"unexpected {type(exc).__name__}: {_one_line(exc)}")
        finally:
            self.refresh_names()
        return True

    def send(self, text: str) -> TurnResult | None:
        """Ask the model: one turn, rendered as it runs; Ctrl-C cancels it."""
        try:
            self.app.model(self.model)
        except ModelNotConfigured as exc:
            self.view.notice("A plain message goes to a model, and none is configured yet; "
                             "!code and /commands work without one.")
            self.view.info(f"To configure one: {exc}")
            return None
        cid = self._ensure_conversation(text)
        cancel = threading.Event()

        def stop() -> None:
            cancel.set()
            self.app.cancel(cid)

        return self.foreground.run(
            lambda: self.app.send(text, conversation_id=cid, model=self.model, max_iterations=self.max_iterations,
                                  on_event=self.foreground.post, approve=self.foreground.approve, cancel=cancel),
            stop, f"waiting for the model{self.view.g.ellipsis}",
        )

    def run_code(self, code: str) -> RunReport | None:
        """Run a ``!`` line in the sandbox as the person's own block; Ctrl-C interrupts it."""
        if not code.strip():
            self.view.info("Nothing to run: write Python after the !")
            return None
        cid = self._ensure_conversation(code)
        report = self.foreground.run(lambda: self.app.run_code(code, conversation_id=cid),
                                     lambda: self.app.interrupt(cid), f"running{self.view.g.ellipsis}")
        result = report.outcome.result
        self.view.block_output(result.stdout, result.result, result.error, result.limit)
        for name, version, kind in report.outcome.changed:
            self.view.print(self.view.change_line(name, version, kind))
        for item in report.outcome.not_stored:
            self.view.notice(item["reason"])
        return report

    # -- loops ---------------------------------------------------------------------------

    def banner(self) -> None:
        g = self.view.g
        try:
            model = self.app.model(self.model).name
        except ModelNotConfigured:
            model = "none configured (only !code and /commands)"
        except EnvloopError as exc:
            model = f"unusable ({_one_line(exc)})"
        self.view.print(Text("envloop chat", style="bold") + Text(f" {g.dot} model: {model}", style="dim"))
        self.view.info(f"Enter sends {g.dot} Esc Enter new line {g.dot} /help {g.dot} Ctrl-C cancels "
                       f"{g.dot} Ctrl-D leaves")
        if self.cid is not None:
            self.switch(self.cid)
            return
        latest = self.app.list_conversations()
        hint = f" (/resume {latest[0].id} continues the latest)" if latest else ""
        self.view.info(f"New conversation{hint}")

    def interact(self) -> None:
        """The prompt-toolkit loop: Ctrl-C clears the line, Ctrl-D (or /quit) leaves."""
        from envloop.channels.chat.editor import ChatCompleter, make_session

        completer = ChatCompleter(lambda: [c for c in commands.COMMANDS], lambda: self.names,
                                  [c for c, cmd in commands.COMMANDS.items() if cmd.takes_name],
                                  lambda name: commands.arguments(name, self))
        session = make_session(completer)
        # Turns and blocks other processes run on this conversation appear above the prompt.
        follower = Follower(self.app, self.view, lambda: self.cid, above_prompt(session))
        follower.start()
        try:
            self._prompt_loop(session, follower)
        finally:
            follower.stop()

    def _prompt_loop(self, session: Any, follower: Follower) -> None:
        while True:
            try:
                line = session.prompt(self.prompt)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            try:
                with follower.paused():
                    if not self.handle(line):
                        break
            except KeyboardInterrupt:  # Ctrl-C during a slow command (turns and ! runs catch their own)
                self.view.notice("interrupted")
            if line.strip():
                self.view.print()

    def replay(self, lines: TextIO) -> None:
        """Piped input: each line is typed as is (echoed, so the transcript reads like a session)."""
        for line in lines:
            line = line.rstrip("\n")
            self.view.echo(self.prompt, line)
            if not self.handle(line):
                break


def _code(text: str) -> str:
    """The code after ``!``: the first line's leading spaces go, the rest keeps its indentation."""
    first, newline, rest = text.partition("\n")
    return first.strip() + newline + rest.rstrip()


def open_chat(app: Envloop, *, conversation_id: int | None = None, resume: bool = False,
              model: str | None = None, max_iterations: int = 8) -> None:
    """Open the chat on ``app`` in this terminal (or over piped input) until the person leaves."""
    from envloop.channels.chat.editor import confirm

    console, glyphs = make_console()
    view = View(console, glyphs)
    if resume or conversation_id is not None:
        conversation_id = app.resolve(conversation_id)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    chat = ChatApp(app, view, conversation_id=conversation_id, model=model, max_iterations=max_iterations,
                   confirm=confirm if interactive else None)
    chat.banner()
    if interactive:
        chat.interact()
    else:
        chat.replay(sys.stdin)
    view.info("Bye.")
