"""The slash commands, mirroring the terminal's: each calls the conversation layer and returns HTML messages.

They are plain blocking functions (the bot runs them in a thread) taking the
Envloop, the chat's conversation id and the words after the command, so they
can be tested without Telegram. A wrong use raises ChannelError with the usage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envloop.channels.telegram.format import Span, escape, split_html
from envloop.conversation import Envloop
from envloop.errors import ChannelError

__all__ = ["COMMANDS", "help_text", "run_command"]

#: (command, arguments, what it does): shown by /help and registered with setMyCommands.
COMMANDS: list[tuple[str, str, str]] = [
    ("new", "", "start a fresh conversation (the current one is kept)"),
    ("vars", "", "every name with its version, type and preview"),
    ("why", "NAME", "where a value came from, back to the start"),
    ("history", "NAME", "every version of a name"),
    ("rollback", "NAME VERSION", "bring back an old version (as a new version)"),
    ("undo", "", "undo the newest turn that changed names (repeat to go further back)"),
    ("redo", "", "bring back what the latest /undo took back"),
    ("cost", "", "turns, tokens, time and cost of this conversation"),
    ("cancel", "", "stop the running turn at once, even mid-reply"),
    ("instructions", "[set TEXT | clear | history | rollback N]", "this chat's own instructions for the model"),
    ("help", "", "what this bot does and its commands"),
]


def help_text() -> str:
    lines = [
        "<b>envloop</b> — ask me anything; I answer by writing Python that runs in this chat's own sandbox.",
        "Every name the code defines is kept, version by version, so later messages can use it.",
        "",
    ]
    for name, args, about in COMMANDS:
        lines.append(f"/{name}{' ' + escape(args) if args else ''} — {escape(about)}")
    return "\n".join(lines)


def _pre(text: str) -> list[str]:
    return split_html([Span(text, "pre")])


def _one(args: list[str], usage: str) -> str:
    if len(args) != 1:
        raise ChannelError(f"usage: {usage}")
    return args[0]


def _vars(app: Envloop, cid: int, args: list[str]) -> list[str]:
    entries = app.vars(cid)
    if not entries:
        return ["No names defined yet."]
    rows = []
    for e in entries:
        lost = "  LOST" if e.status == "lost" else ""
        rows.append(f"{e.name} v{e.version} ({e.versions}) {e.type_name or e.kind} {e.size or 0} B"
                    f"  {(e.preview or '')[:60]}{lost}")
    return _pre("\n".join(rows))


def _version_lines(info: Any, indent: str = "") -> list[str]:
    where = f"turn {info.turn}" if info.turn is not None else "no turn"
    head = f"{indent}{info.name} v{info.version} [{info.kind}] {info.created_at:%Y-%m-%d %H:%M} {where}"
    lines = [head + f" by {info.author or '?'}" + (f" (= {info.rolled_back_from})" if info.rolled_back_from else "")]
    lines += [f"{indent}    {line}" for line in (info.source or info.preview or "").splitlines()[:8]]
    if info.lost_reason:
        lines.append(f"{indent}    LOST: {info.lost_reason}")
    if info.reads:
        lines.append(f"{indent}    read: {', '.join(info.reads)}")
    return lines


def _history(app: Envloop, cid: int, args: list[str]) -> list[str]:
    name = _one(args, "/history NAME")
    return _pre("\n".join(line for info in app.history(name, cid) for line in _version_lines(info)))


def _why(app: Envloop, cid: int, args: list[str]) -> list[str]:
    name = _one(args, "/why NAME")
    lines: list[str] = []
    for info in app.why(name, cid):
        indent = "  " * info.depth
        lines += _version_lines(info, indent)
        if info.turn_text and (info.depth == 0 or info.author != "system"):
            lines.append(f"{indent}    turn: {info.turn_text.splitlines()[0][:100]}")
    return _pre("\n".join(lines))


def _rollback(app: Envloop, cid: int, args: list[str]) -> list[str]:
    if len(args) != 2 or not args[1].isdigit():
        raise ChannelError("usage: /rollback NAME VERSION (for example /rollback total 2)")
    change = app.rollback(args[0], int(args[1]), cid)
    return [escape(change.note)]


def _undo(app: Envloop, cid: int, args: list[str]) -> list[str]:
    return _change_lines(app.undo(cid))


def _redo(app: Envloop, cid: int, args: list[str]) -> list[str]:
    return _change_lines(app.redo(cid))


def _change_lines(change: Any) -> list[str]:
    lines = [change.note] + [f"  {n} v{v}" + (" (deleted)" if k == "deleted" else "") for n, v, k in change.changed]
    return [escape("\n".join(lines))]


def _cost(app: Envloop, cid: int, args: list[str]) -> list[str]:
    usage = app.usage(cid)
    cost = "unknown" if usage["cost"] is None else f"${usage['cost']:.4f}"
    lines = [f"<b>Conversation {cid}</b>: {usage['turns']} turns, {usage['tokens_in']:,}+{usage['tokens_out']:,} "
             f"tokens, {usage['duration_ms'] / 1000:.1f} s, {cost}"]
    last = usage["last"]
    if last:
        last_cost = "unknown" if last["cost"] is None else f"${last['cost']:.4f}"
        lines.append(f"Last turn ({escape(last['status'])}): {last['iterations']} iterations, "
                     f"{last['tokens_in']:,}+{last['tokens_out']:,} tokens, "
                     f"{(last['duration_ms'] or 0) / 1000:.1f} s, {last_cost}, model {escape(str(last['model']))}")
    return ["\n".join(lines)]


def _instructions(app: Envloop, cid: int, args: list[str]) -> list[str]:
    """Show, set, clear, list or roll back the chat's instructions (versioned; /undo takes a change back)."""
    usage = "usage: /instructions [set TEXT | clear | history | rollback N]"
    action, rest = (args[0].lower(), args[1:]) if args else ("show", [])
    if action == "show" and not rest:
        info = app.instructions(cid)
        return [f"<b>Instructions</b>: {escape(info.describe())}" + (f"\n{escape(info.text)}" if info.text else "")]
    if action == "set" and rest:
        _, info = app.set_instructions(" ".join(rest), cid)
        return [escape(f"Instructions set (v{info.version}); they apply from the next message. /undo takes it back.")]
    if action == "clear" and not rest:
        app.set_instructions(None, cid)
        return ["Instructions cleared. /undo brings them back."]
    if action == "history" and not rest:
        rows = app.instructions_history(cid)
        lines = [f"v{r.version} (turn {r.turn}, {'model, approved' if r.author == 'llm' else 'you'}): "
                 + ("(cleared)" if r.kind == "deleted" else (r.source or "").replace("\n", " ")[:200]) for r in rows]
        return [escape("\n".join(lines) or "No instructions set in this chat yet.")]
    if action == "rollback" and len(rest) == 1 and rest[0].isdigit():
        return [escape(app.rollback_instructions(int(rest[0]), cid).note.replace("@instructions", "instructions"))]
    raise ChannelError(usage)


_HANDLERS: dict[str, Callable[[Envloop, int, list[str]], list[str]]] = {
    "instructions": _instructions,
    "vars": _vars, "history": _history, "why": _why, "rollback": _rollback, "undo": _undo, "redo": _redo, "cost": _cost,
}


def run_command(app: Envloop, cid: int, name: str, args: list[str]) -> list[str]:
    """Run /NAME on conversation ``cid``; the HTML messages to send back."""
    handler = _HANDLERS.get(name)
    if handler is None:
        raise ChannelError(f"unknown command /{name}; see /help")
    return handler(app, cid, args)
