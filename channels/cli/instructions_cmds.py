"""``envloop instructions``: a conversation's own instructions beneath the fixed core rules.

    envloop instructions                     show them (default)
    envloop instructions set "Answer in French."
    envloop instructions set --file rules.md  (or --file - for standard input)
    envloop instructions clear
    envloop instructions history | rollback N

Each change is a version of ``@instructions``, so ``envloop undo`` takes it back.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from envloop.channels.cli._app import AppContext, cli, fail, pass_app, print_json

_conversation = click.option(
    "--conversation", "conversation_id", type=int, metavar="ID", help="Conversation id (default: the most recent)."
)


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}")


def _show(ctx: AppContext, conversation_id: int | None, as_json: bool) -> None:
    info = ctx.app().instructions(conversation_id)
    if as_json:
        print_json(info.to_json())
        return
    click.echo(f"conversation {info.conversation_id} ({info.channel}): {info.describe()}")
    if info.text:
        click.echo(info.text)


def _set(ctx: AppContext, conversation_id: int | None, text: str | None) -> None:
    turn, info = ctx.app().set_instructions(text, conversation_id)
    what = "cleared" if text is None else f"set (v{info.version})"
    click.echo(f"conversation {info.conversation_id}: instructions {what} in turn {turn}; `envloop undo` takes it back")
    if text is None:
        from envloop.instructions import channel_default

        if channel_default(info.channel):
            click.echo(f"(the {info.channel} channel's default from the config file does not apply to it either)")


@cli.group("instructions", invoke_without_command=True)
@_conversation
@click.option("--file", "file", metavar="FILE", help="Set the instructions from FILE ('-': standard input).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (show).")
@click.pass_context
def instructions(click_ctx: click.Context, conversation_id: int | None, file: str | None, as_json: bool) -> None:
    """Show or change a conversation's instructions.

    They go into the model's system prompt beneath envloop's fixed core rules
    (which win on conflict). A conversation that never set any uses its
    channel's default from the config file ([instructions] cli = "...").
    Every change is versioned: `history`, `rollback N` and `envloop undo`.
    """
    ctx = click_ctx.ensure_object(AppContext)
    click_ctx.meta["instructions.conversation"] = conversation_id
    if click_ctx.invoked_subcommand is not None:
        return
    if file is not None:
        _set(ctx, conversation_id, _read(file))
    else:
        _show(ctx, conversation_id, as_json)


def _cid(conversation_id: int | None) -> int | None:
    """The subcommand's --conversation, else the group's."""
    if conversation_id is not None:
        return conversation_id
    value = click.get_current_context().meta.get("instructions.conversation")
    return value if isinstance(value, int) else None


@instructions.command("show")
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def show(ctx: AppContext, conversation_id: int | None, as_json: bool) -> None:
    """Print the instructions in force and where they come from."""
    _show(ctx, _cid(conversation_id), as_json)


@instructions.command("set")
@click.argument("text", required=False)
@click.option("--file", "file", metavar="FILE", help="Read the text from FILE ('-': standard input).")
@_conversation
@pass_app
def set_(ctx: AppContext, text: str | None, file: str | None, conversation_id: int | None) -> None:
    """Replace the instructions with TEXT (or the content of --file)."""
    if (text is None) == (file is None):
        fail("give the instructions as TEXT or with --file FILE (one of them)")
    _set(ctx, _cid(conversation_id), text if file is None else _read(file))


@instructions.command("clear")
@_conversation
@pass_app
def clear(ctx: AppContext, conversation_id: int | None) -> None:
    """Remove the instructions (a version of its own: `envloop undo` brings them back)."""
    _set(ctx, _cid(conversation_id), None)


@instructions.command("history")
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def history(ctx: AppContext, conversation_id: int | None, as_json: bool) -> None:
    """Every version of the instructions, oldest first, with the turn and author that made it."""
    rows = ctx.app().instructions_history(_cid(conversation_id))
    if as_json:
        print_json([row.to_json() for row in rows])
        return
    if not rows:
        click.echo("No instructions set in this conversation yet.")
    for row in rows:
        when = row.created_at.strftime("%Y-%m-%d %H:%M:%S")
        origin = f"  (= v{row.rolled_back_from.rsplit(' v', 1)[-1]})" if row.rolled_back_from else ""
        by = "the model, approved by you" if row.author == "llm" else "you"
        click.echo(f"v{row.version}  {when}  turn {row.turn}  by {by}{origin}")
        text = "(cleared)" if row.kind == "deleted" else row.source or ""
        for line in text.splitlines()[:20]:
            click.echo(f"    {line}")


@instructions.command("rollback")
@click.argument("version", type=int)
@_conversation
@pass_app
def rollback(ctx: AppContext, version: int, conversation_id: int | None) -> None:
    """Make the instructions equal to VERSION again (a new version; undoable)."""
    change = ctx.app().rollback_instructions(version, _cid(conversation_id))
    click.echo(change.note.replace("@instructions", "instructions"))
