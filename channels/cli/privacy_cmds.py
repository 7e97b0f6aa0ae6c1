"""Deletion and retention: ``envloop delete`` and ``envloop prune`` (``db vacuum`` lives with ``db``)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta

import click

from envloop.channels.cli._app import AppContext, cli, fail, pass_app, print_json

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def size(n: int) -> str:
    """Bytes as people read them (1,536 -> "1.5 kB")."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def parse_age(text: str) -> timedelta:
    """'90d', '12h', '2w', '1w3d', '30m' or '45s' as a duration; BadParameter otherwise."""
    parts = re.findall(r"(\d+)\s*([smhdw])", text.strip().lower())
    if not parts or re.sub(r"\d+\s*[smhdw]", "", text.strip().lower()).strip():
        raise click.BadParameter(f"{text!r} is not an age such as 90d, 12h, 2w or 1w3d")
    return timedelta(seconds=sum(int(n) * _UNITS[unit] for n, unit in parts))


@cli.command("delete")
@click.option("--conversation", "conversation_id", type=int, metavar="ID", required=True,
              help="The conversation to delete (required: there is no default).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def delete(ctx: AppContext, conversation_id: int, yes: bool, as_json: bool) -> None:
    """Delete a conversation for good: its turns, code, versions, artifacts, the blobs only it used,
    and its workspace folder. Blobs other conversations share are kept.

    This cannot be undone. Forks of it keep their own copies of its state.
    """
    app = ctx.app()
    info = next((c for c in app.list_conversations() if c.id == conversation_id), None)
    if info is None:
        fail(f"no conversation {conversation_id}")
    if not yes:
        what = f"conversation {info.id} ({info.title or 'untitled'}, {info.channel}, {info.turns} turns)"
        if not sys.stdin.isatty():
            click.echo(f"Delete {what}? [y/N]: ", nl=False, err=True)
            answer = sys.stdin.readline().strip().lower()
            confirmed = answer in ("y", "yes")
        else:
            confirmed = click.confirm(f"Delete {what}? This cannot be undone", default=False, err=True)
        if not confirmed:
            fail("nothing deleted (pass --yes to delete without asking)")
    report = app.delete_conversation(conversation_id)
    if as_json:
        print_json({**vars(report), "bytes_freed": report.bytes_freed})
        return
    click.echo(f"deleted conversation {report.conversation_id}: {report.turns} turns, {report.versions} versions; "
               f"freed {size(report.bytes_freed)} ({size(report.row_bytes)} of rows, {size(report.blob_bytes)} in "
               f"{report.blobs_deleted} blobs, {size(report.workspace_bytes)} of workspace); "
               f"{report.blobs_shared} blobs shared with other conversations kept")
    if app.database.is_sqlite:
        click.echo("the database file shrinks when you run `envloop db vacuum`", err=True)


@cli.command("prune")
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Prune iterations and blocks older than AGE: 90d, 12h, 2w, 1w3d ...")
@click.option("--keep-named", is_flag=True,
              help="Keep the prompts and outputs of iterations and blocks that made a named version.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def prune(ctx: AppContext, older_than: str, keep_named: bool, as_json: bool) -> None:
    """Drop old iterations' prompts and raw replies and old blocks' printed output, in every conversation.

    Kept: every version's value and provenance, every block's code, every
    turn's question and answer. Pruned rows say "[pruned]". Run `envloop db
    vacuum` afterwards to give the space back to the file system.
    """
    age = parse_age(older_than)
    report = ctx.app().prune(age, keep_named=keep_named)
    if as_json:
        print_json(vars(report))
        return
    kept = f"; {report.kept_named} iterations that made a version kept" if keep_named else ""
    click.echo(f"pruned {report.iterations} iterations and {report.blocks} blocks older than {older_than}: "
               f"freed {size(report.bytes_freed)}{kept}")
