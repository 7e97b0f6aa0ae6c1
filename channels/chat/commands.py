"""The slash commands: one small function each, registered with its usage and help line.

A command reads or changes the conversation only through ``chat.app`` (the
conversation layer) and prints through ``chat.view``; the registry feeds
``/help`` and completion, so a command is listed the moment it exists.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from envloop.channels.chat import tables
from envloop.errors import ModelNotConfigured

if TYPE_CHECKING:
    from envloop.channels.chat.app import ChatApp

__all__ = ["COMMANDS", "EXPORT_FORMATS", "Command", "CommandError", "arguments", "dispatch"]

EXPORT_FORMATS = ("md", "py", "ipynb")


class CommandError(Exception):
    """A command was used wrongly; the message says how to use it."""


@dataclass(frozen=True)
class Command:
    usage: str
    help: str
    run: Callable[[ChatApp, list[str]], bool | None]  # returns False to leave the chat
    takes_name: bool = False  # its first argument is one of the conversation's names

    @property
    def name(self) -> str:
        return self.usage.split()[0]


COMMANDS: dict[str, Command] = {}


def command(usage: str, help: str, *, takes_name: bool = False, aliases: tuple[str, ...] = ()):
    """Register the decorated function as the slash command named by the first word of ``usage``."""

    def register(fn: Callable[[ChatApp, list[str]], bool | None]) -> Callable[[ChatApp, list[str]], bool | None]:
        cmd = Command(usage, help, fn, takes_name)
        for name in (cmd.name, *aliases):
            COMMANDS[name] = cmd
        return fn

    return register


def dispatch(chat: ChatApp, line: str) -> bool:
    """Run one ``/command args`` line; False means leave the chat."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    cmd = COMMANDS.get(words[0])
    if cmd is None:
        close = difflib.get_close_matches(words[0], list(COMMANDS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        chat.view.error(f"unknown command {words[0]}{hint}; /help lists them")
        return True
    try:
        return cmd.run(chat, words[1:]) is not False
    except CommandError as exc:
        chat.view.error(f"{exc} (usage: {cmd.usage})")
        return True


def arguments(name: str, chat: ChatApp) -> list[str]:
    """Completion choices for a command's first argument other than names."""
    if name == "/resume":
        return [str(info.id) for info in chat.app.list_conversations()]
    if name == "/export":
        return list(EXPORT_FORMATS)
    if name == "/help":
        return [c.lstrip("/") for c in COMMANDS]
    return []


def _want(args: list[str], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise CommandError("wrong number of arguments")


def _number(text: str, what: str) -> int:
    try:
        return int(text.lstrip("vV"))
    except ValueError:
        raise CommandError(f"{what} must be a number, not {text!r}") from None


# -- the namespace -------------------------------------------------------------


@command("/vars", "the var index: every name, its version, type and preview")
def _vars(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    chat.view.print(tables.vars_table(chat.app.vars(chat.require_conversation())))


@command("/history NAME", "every version of NAME", takes_name=True)
def _history(chat: ChatApp, args: list[str]) -> None:
    _want(args, 1, 1)
    chat.view.print(tables.history_view(chat.app.history(args[0], chat.require_conversation()), chat.view))


@command("/diff NAME OLD NEW", "what changed between two versions of NAME", takes_name=True)
def _diff(chat: ChatApp, args: list[str]) -> None:
    _want(args, 3, 3)
    lines = chat.app.diff(args[0], _number(args[1], "OLD"), _number(args[2], "NEW"), chat.require_conversation())
    for line in lines or [f"{args[0]} v{args[1]} and v{args[2]} are the same"]:
        style = {"+": "green", "-": "red", "~": "yellow"}.get(line[:1], "")
        chat.view.print(Text(chat.view.safe(line), style=style))


@command("/why NAME", "where NAME came from, as a tree of what it read", takes_name=True)
def _why(chat: ChatApp, args: list[str]) -> None:
    _want(args, 1, 1)
    chat.view.print(tables.why_tree(chat.app.why(args[0], chat.require_conversation()), chat.view.g))


@command("/rollback NAME VERSION", "a new version of NAME equal to VERSION (undoable)", takes_name=True)
def _rollback(chat: ChatApp, args: list[str]) -> None:
    _want(args, 2, 2)
    change = chat.app.rollback(args[0], _number(args[1], "VERSION"), chat.require_conversation())
    chat.view.print(Text(chat.view.safe(change.note), style="cyan"))
    _say_stale(chat, change.conversation_id)


def _print_change(chat: ChatApp, change: Any) -> None:
    chat.view.print(Text(chat.view.safe(change.note), style="cyan"))
    for name, version, kind in change.changed:
        chat.view.print(chat.view.change_line(name, version, kind))
    _say_stale(chat, change.conversation_id)


def _say_stale(chat: ChatApp, cid: int) -> None:
    """Right after the timeline moved: the names now computed from versions that changed."""
    stale = chat.app.stale(cid)
    if stale:
        chat.view.print(Text("now stale (computed from versions that changed):", style="yellow"))
        for name, why in sorted(stale.items()):
            chat.view.print(Text(chat.view.safe(f"  {name} v{why.version}: {why.reason}"), style="yellow"))
        chat.view.print(Text("bring them up to date: /recompute", style="dim"))


@command("/undo", "undo the newest turn or ! run that changed names (repeat to go further back)")
def _undo(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    _print_change(chat, chat.app.undo(chat.require_conversation()))


@command("/redo", "bring back what the latest /undo took back")
def _redo(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    _print_change(chat, chat.app.redo(chat.require_conversation()))


@command("/recompute [NAME]", "re-run the statements that made stale names (all of them, or NAME's)")
def _recompute(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 1)
    cid = chat.require_conversation()
    plan = chat.app.plan_recompute(args[0] if args else None, cid)
    if plan.empty:
        chat.view.info(f"{args[0]} is up to date" if args else "nothing is stale")
        return
    question = "these statements call extensions with effects:\n  " + "\n  ".join(plan.side_effects)
    if plan.side_effects and not chat.foreground.confirm(question + "\nrun them again?"):
        chat.view.info("not recomputed")
        return
    report = chat.app.recompute(plan, cid)
    for name, version, kind in report.outcome.changed:
        chat.view.print(chat.view.change_line(name, version, kind))
    if report.outcome.result.error:
        chat.view.print(Text(chat.view.safe(str(report.outcome.result.error.get("message"))), style="red"))


@command("/log", "the turns and timeline operations (undo, redo, rollback) of this conversation")
def _log(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    for e in chat.app.log(chat.require_conversation())[-40:]:
        text = (e.text or "").splitlines()[0][:60] if e.text else ""
        line = f"{e.turn:>4}  {e.kind:<8} {e.status:<12} {e.changed:>3} changed  {text}"
        chat.view.print(Text(chat.view.safe(line), style="dim" if e.undone else ""))


@command("/fork [TURN]", "continue in a copy of this conversation (as of TURN)")
def _fork(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 1)
    at = _number(args[0], "TURN") if args else None
    change = chat.app.fork(chat.require_conversation(), at)
    note = f"{change.note}: now in conversation {change.conversation_id}"
    chat.view.print(Text(chat.view.safe(note), style="cyan"))
    chat.switch(change.conversation_id)


@command("/artifacts", "files the code saved, newest version of each")
def _artifacts(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    chat.view.print(tables.artifacts_table(chat.app.artifacts(chat.require_conversation())))


@command("/instructions [set TEXT|clear|history|rollback N]",
         "this conversation's own instructions for the model (versioned; /undo takes a change back)")
def _instructions(chat: ChatApp, args: list[str]) -> None:
    cid = chat.require_conversation()
    action, rest = (args[0].lower(), args[1:]) if args else ("show", [])
    if action == "show" and not rest:
        info = chat.app.instructions(cid)
        chat.view.print(Text(chat.view.safe(f"instructions: {info.describe()}"), style="cyan"))
        if info.text:
            chat.view.print(Text(chat.view.safe(info.text)))
    elif action in ("set", "clear") and bool(rest) == (action == "set"):
        _, info = chat.app.set_instructions(" ".join(rest) if rest else None, cid)
        note = "cleared" if info.text is None else f"set (v{info.version}); they apply from your next message"
        chat.view.print(Text(chat.view.safe(f"instructions {note} · /undo takes it back"), style="cyan"))
    elif action == "history" and not rest:
        rows = chat.app.instructions_history(cid)
        for r in rows:
            by = "the model, approved by you" if r.author == "llm" else "you"
            text = "(cleared)" if r.kind == "deleted" else (r.source or "").replace("\n", " ")[:100]
            chat.view.print(Text(chat.view.safe(f"v{r.version}  turn {r.turn}  by {by}: {text}")))
        if not rows:
            chat.view.info("no instructions set in this conversation yet")
    elif action == "rollback" and len(rest) == 1:
        change = chat.app.rollback_instructions(_number(rest[0], "N"), cid)
        chat.view.print(Text(chat.view.safe(change.note.replace("@instructions", "instructions")), style="cyan"))
    else:
        raise CommandError("say show, set TEXT, clear, history or rollback N")


# -- the model -------------------------------------------------------------------


@command("/inspect", "exactly what the last iteration sent to the model, and its reply")
def _inspect(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    chat.view.print(tables.inspect_view(chat.app.inspect(chat.require_conversation()), chat.view))


@command("/cost", "tokens, cost and time: the conversation and its last turn")
def _cost(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    chat.view.print(tables.usage_view(chat.app.usage(chat.require_conversation()), chat.view.g))


@command("/model [NAME]", "show the model, or use NAME from now on")
def _model(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 1)
    if args:
        chat.app.model(args[0])  # a bad name or replay file fails here, and the model stays as it was
        chat.model = args[0]
    try:
        chat.view.info(f"model: {chat.app.model(chat.model).name}")
    except ModelNotConfigured as exc:
        chat.view.notice(str(exc))


# -- conversations ---------------------------------------------------------------


@command("/new", "start a new conversation (with your next message)")
def _new(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    chat.switch(None)


@command("/resume [ID]", "continue conversation ID (default: the most recent)")
def _resume(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 1)
    chat.switch(chat.app.resolve(_number(args[0], "ID") if args else None))


@command("/conversations", "every conversation, most recently active first")
def _conversations(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 0)
    chat.view.print(tables.conversations_table(chat.app.list_conversations(), chat.cid))


@command("/export [FORMAT] [FILE]", "the conversation as md, py or ipynb; to FILE or the screen")
def _export(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 2)
    fmt, target = "md", None
    if args and args[0] in EXPORT_FORMATS:
        fmt, args = args[0], args[1:]
    if len(args) > 1:
        raise CommandError(f"FORMAT is one of {', '.join(EXPORT_FORMATS)}")
    if args:
        target = Path(args[0]).expanduser()
        suffix = target.suffix.lstrip(".")
        if suffix in EXPORT_FORMATS and fmt == "md" and suffix != "md":
            fmt = suffix  # "/export notes.ipynb" means a notebook
    text = chat.app.export(chat.require_conversation(), fmt)
    from envloop import settings

    if settings.section("export").get("redact") is True:  # the config's privacy default holds here too
        from envloop.redact import redactor_from_config

        redactor = redactor_from_config()
        text = redactor.redact_document(text, fmt)
        chat.view.info(redactor.summary_line())
    if target is None:
        chat.view.print(chat.view.fold(text))
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    chat.view.info(f"wrote {target} ({fmt}, {len(text):,} characters)")


# -- the chat itself -----------------------------------------------------------------


@command("/show [N]", "print folded output N (default: the latest) in full")
def _show(chat: ChatApp, args: list[str]) -> None:
    _want(args, 0, 1)
    chat.view.show(_number(args[0], "N") if args else None)


@command("/help", "this list")
def _help(chat: ChatApp, args: list[str]) -> None:
    seen = dict.fromkeys(COMMANDS.values())
    chat.view.print(tables.help_table([(c.usage, c.help) for c in seen], chat.view.g))


@command("/quit", "leave (Ctrl-D does too)", aliases=("/exit",))
def _quit(chat: ChatApp, args: list[str]) -> bool:
    return False
