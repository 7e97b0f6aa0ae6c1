"""The input line: prompt-toolkit with multi-line editing, a history file and completion.

Enter sends; Esc Enter inserts a newline (terminals send Alt-Enter as exactly
that pair, so one binding serves both). Completion offers the slash commands
while one is being typed and the conversation's names on Tab; the names come
from a list the chat refreshes after each action, never from the database on
a keystroke. The history file lives beside the default database folder, so
it survives between runs and stays out of any repository.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.application.current import get_app
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.shortcuts import create_confirm_session

__all__ = ["APPROVAL_SECONDS", "ChatCompleter", "confirm", "history_path", "make_session"]

#: Seconds to wait for y/n on an irreversible call before denying it (the wait pauses the block's own limit).
APPROVAL_SECONDS = 120.0
_NAME_AT_END = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def history_path() -> Path:
    """``$XDG_DATA_HOME/envloop/chat_history`` (``~/.local/share/envloop/chat_history``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "envloop" / "chat_history"


class ChatCompleter(Completer):
    """Slash commands (and their arguments), then the conversation's names anywhere else."""

    def __init__(self, commands: Callable[[], Iterable[str]], names: Callable[[], Iterable[str]],
                 name_commands: Iterable[str], arguments: Callable[[str], Iterable[str]]) -> None:
        self.commands = commands
        self.names = names
        self.name_commands = frozenset(name_commands)  # commands whose first argument is a name
        self.arguments = arguments  # other argument choices per command (ids, formats)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        if text.startswith("/"):
            yield from self._command(text)
            return
        match = _NAME_AT_END.search(text)
        if match and (match.start() == 0 or text[match.start() - 1] != "."):
            yield from _starting_with(match.group(), self.names())

    def _command(self, text: str) -> Iterator[Completion]:
        words = text.split(" ")
        if len(words) == 1:
            yield from _starting_with(text, self.commands())
        elif len(words) == 2:
            choices = self.names() if words[0] in self.name_commands else self.arguments(words[0])
            yield from _starting_with(words[1], choices)


def _starting_with(prefix: str, choices: Iterable[str]) -> Iterator[Completion]:
    for choice in sorted(set(choices)):
        if choice.startswith(prefix) and choice != prefix:
            yield Completion(choice, start_position=-len(prefix))


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        """Esc Enter / Alt-Enter: a new line in the message instead of sending it."""
        event.current_buffer.insert_text("\n")

    return bindings


def make_session(completer: Completer) -> PromptSession[str]:
    """The chat's prompt: history across runs, completion, Enter sends and Esc Enter adds a line."""
    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    typing_command = Condition(lambda: get_app().current_buffer.text.startswith("/"))
    return PromptSession(
        history=FileHistory(str(path)),
        completer=completer,
        complete_while_typing=typing_command,
        key_bindings=_key_bindings(),
        multiline=False,
        prompt_continuation=lambda width, line_number, wrap_count: "." * (width - 1) + " ",
        enable_suspend=True,
    )


def confirm(question: str, timeout: float = APPROVAL_SECONDS) -> bool:
    """Ask a yes/no question (y or n, no Enter needed); no answer within ``timeout`` seconds is a no.

    The question comes from a running block, whose wall-clock limit keeps
    running while the person thinks: answering after it would let the call go
    through and then lose the block to the timeout. Ctrl-C and Ctrl-D raise as usual.
    """
    session = create_confirm_session(question, " (y/n) ")

    def give_up() -> None:
        future = session.app.future
        if session.app.is_running and future is not None and not future.done():
            session.app.exit(result=False)

    def start_clock() -> None:
        asyncio.get_running_loop().call_later(timeout, give_up)

    return bool(session.prompt(pre_run=start_clock))
