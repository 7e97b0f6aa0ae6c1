"""Database and conversation listing commands: ``db upgrade``, ``db current``, ``conversations``."""

from __future__ import annotations

import click

from envloop.channels.cli._app import AppContext, cli, pass_app, print_json
from envloop.store.db import HEAD_REVISION


@cli.group()
def db() -> None:
    """Inspect and upgrade the database schema (Alembic revisions)."""


@db.command("upgrade")
@pass_app
def db_upgrade(ctx: AppContext) -> None:
    """Upgrade the database schema to the newest revision (opening it does this too)."""
    app = ctx.app(upgrade=False)
    before = app.database.current_revision()
    app.database.upgrade()
    after = app.database.current_revision()
    if before == after:
        click.echo(f"{app.database.location}: already at revision {after}")
    else:
        click.echo(f"{app.database.location}: upgraded {before or '(empty)'} -> {after}")


@db.command("current")
@pass_app
def db_current(ctx: AppContext) -> None:
    """Print the database location and its schema revision."""
    app = ctx.app()
    revision = app.database.current_revision()
    state = "head" if revision == HEAD_REVISION else f"head is {HEAD_REVISION}"
    click.echo(f"{app.database.location}: revision {revision} ({state})")


@db.command("vacuum")
@click.option("--full", is_flag=True, help="PostgreSQL: VACUUM FULL (rewrites tables, locks them meanwhile).")
@pass_app
def db_vacuum(ctx: AppContext, full: bool) -> None:
    """Give the space freed by `delete` and `prune` back to the file system (SQLite) or server (PostgreSQL)."""
    from envloop.channels.cli.privacy_cmds import size

    before, after = ctx.app().vacuum(full=full)
    click.echo(f"{ctx.app().database.location}: {size(before)} -> {size(after)}, freed {size(max(before - after, 0))}")


@cli.command("conversations")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_app
def conversations(ctx: AppContext, as_json: bool) -> None:
    """List conversations, most recently active first."""
    rows = ctx.app().list_conversations()
    if as_json:
        print_json([row.to_json() for row in rows])
        return
    if not rows:
        click.echo("No conversations yet.")
        return
    click.echo(f"{'ID':>5}  {'UPDATED':<19}  {'TURNS':>5}  {'CHANNEL':<9}  TITLE")
    for row in rows:
        updated = row.updated_at.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{row.id:>5}  {updated:<19}  {row.turns:>5}  {row.channel:<9}  {row.title or ''}")
