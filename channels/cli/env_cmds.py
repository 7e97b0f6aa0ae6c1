"""Commands on a conversation's versioned namespace: run, vars, history, why, rollback, undo, fork, artifacts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from envloop.channels.cli._app import AppContext, cli, fail, pass_app, print_json

_conversation = click.option(
    "--conversation", "conversation_id", type=int, metavar="ID", help="Conversation id (default: the most recent)."
)


@cli.command("run")
@click.argument("code")
@_conversation
@click.option("--new", is_flag=True, help="Run in a new conversation.")
@click.option("--timeout", type=float, metavar="S", envvar="ENVLOOP_TIMEOUT", show_envvar=True,
              help="Wall-clock limit for the block in seconds (default 30).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def run(ctx: AppContext, code: str, conversation_id: int | None, new: bool, timeout: float | None,
        as_json: bool) -> None:
    """Run CODE as a block in a conversation's sandbox (author: user).

    Use "-" as CODE to read it from standard input. Exit code: 0 when the block
    ran, 1 when it raised, 3 when a limit (timeout, memory, output, crash) was hit.
    Every name it defines is stored, so later runs and resumed conversations see it.
    """
    from envloop.sandbox.template import prestart

    prestart()
    if code == "-":
        code = sys.stdin.read()
    app = ctx.app()
    app.on_wait = lambda info: click.echo(click.style(info["message"], dim=True), err=True)
    try:
        report = app.run_code(code, conversation_id=conversation_id, new=new, timeout=timeout)
    except KeyboardInterrupt:  # Ctrl-C, while waiting for another process's turn or while the block ran
        fail("cancelled", 130)
    result = report.outcome.result
    if as_json:
        print_json(report.to_json())
    else:
        if result.stdout:
            click.echo(result.stdout, nl=not result.stdout.endswith("\n"))
        if result.result is not None:
            click.echo(result.result)
        if result.error:
            line = f" (line {result.error['line']})" if result.error.get("line") else ""
            click.echo(f"{result.error['type']}{line}: {result.error['message']}", err=True)
        for name, version, kind in report.outcome.changed:
            click.echo(click.style(f"  {name} v{version}" + (" (deleted)" if kind == "deleted" else ""), dim=True),
                       err=True)
        for item in report.outcome.not_stored:
            click.echo(click.style(f"  {item['reason']}", fg="yellow"), err=True)
    sys.exit(3 if result.limit else 0 if result.ok else 1)


@cli.command("vars")
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def vars_(ctx: AppContext, conversation_id: int | None, as_json: bool) -> None:
    """The var index: every name with its versions, type, size, preview, live or lost."""
    entries = ctx.app().vars(conversation_id)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    if not entries:
        click.echo("No names defined yet.")
    for e in entries:
        lost = f"  LOST: {e.lost_reason}" if e.status == "lost" else ""
        stale = f"  STALE ({e.stale})" if e.stale else ""
        click.echo(f"{e.name:<20} v{e.version:<3} {e.versions:>3} versions  {e.type_name or e.kind:<14} "
                   f"{e.size or 0:>8} B  {(e.preview or '')[:60]}{lost}{stale}")
    if any(e.stale for e in entries):
        click.echo("Stale names derive from versions that have changed since: `envloop recompute --all-stale`.")


def _print_version(info, indent: str = "") -> None:
    """A version as people read it: who made it when, the code that made it, its value, what it read."""
    when = info.created_at.strftime("%Y-%m-%d %H:%M:%S")
    where = f"turn {info.turn}" if info.turn is not None else "no turn"
    head = f"{indent}{info.name} v{info.version} [{info.kind}] {when} {where} by {info.author or '?'}"
    click.echo(head + (f"  (= {info.rolled_back_from})" if info.rolled_back_from else ""))
    code = info.statement if info.author != "system" else None
    if code:
        click.echo(f"{indent}  code:")
        for line in code.splitlines()[:12]:
            click.echo(f"{indent}    {line}")
    if info.kind == "value" or not code:
        preview = info.preview or info.source or ""
        first, *rest = preview.splitlines() or [""]
        click.echo(f"{indent}  value: {first}" + (" …" if rest else ""))
    if info.lost_reason:
        click.echo(f"{indent}  LOST: {info.lost_reason}")
    if info.reads:
        click.echo(f"{indent}  read: {', '.join(info.reads)}")


@cli.command("history")
@click.argument("name")
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def history(ctx: AppContext, name: str, conversation_id: int | None, as_json: bool) -> None:
    """Every version of NAME: the code that made it, its value, what it read, turn and author."""
    versions = ctx.app().history(name, conversation_id)
    if as_json:
        print_json([v.to_json() for v in versions])
        return
    for info in versions:
        _print_version(info)


@cli.command("diff")
@click.argument("name")
@click.argument("old", type=int)
@click.argument("new", type=int)
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of lines.")
@pass_app
def diff(ctx: AppContext, name: str, old: int, new: int, conversation_id: int | None, as_json: bool) -> None:
    """What changed from version OLD to version NEW of NAME: keys, items and fields (+ new, - gone, ~ changed).

    Code and long texts get a line diff.
    """
    lines = ctx.app().diff(name, old, new, conversation_id)
    if as_json:
        print_json(lines)
        return
    click.echo("\n".join(lines) if lines else f"{name} v{old} and v{new} are the same")


@cli.command("why")
@click.argument("name")
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def why(ctx: AppContext, name: str, conversation_id: int | None, as_json: bool) -> None:
    """Where NAME came from: its version, the block and turn that made it, and what they read, back to the start."""
    app = ctx.app()
    chain = app.why(name, conversation_id)
    stale = app.stale(conversation_id)
    if as_json:
        print_json([{**v.to_json(), "stale": _stale_reason(stale, v)} for v in chain])
        return
    if name in stale:
        click.echo(f"{name} is STALE: {_stale_chain(stale, name)}")
    for info in chain:
        _print_version(info, "  " * info.depth)
        if info.turn_text and (info.depth == 0 or info.author != "system"):
            click.echo(f"{'  ' * info.depth}    turn: {info.turn_text.splitlines()[0][:100]}")


def _stale_reason(stale, info) -> str | None:
    found = stale.get(info.name)
    return found.reason if found is not None and found.version == info.version else None


def _stale_chain(stale, name: str) -> str:
    """``total: derived from stale march ← march: read invoices v1, now v2``."""
    parts, seen = [], set()
    while name in stale and name not in seen:
        seen.add(name)
        parts.append(f"{name}: {stale[name].reason}")
        name = stale[name].via or ""
    return " ← ".join(parts)


@cli.command("recompute")
@click.argument("name", required=False)
@click.option("--all-stale", "all_stale", is_flag=True, help="Every stale name.")
@click.option("--yes", is_flag=True, help="Re-run statements that call extensions with effects without asking.")
@_conversation
@pass_app
def recompute(ctx: AppContext, name: str | None, all_stale: bool, yes: bool, conversation_id: int | None) -> None:
    """Re-run, in dependency order, the statements that made stale names (NAME, or --all-stale).

    Runs as one new turn under the usual policy and limits, so `undo` takes it back.
    """
    if (name is None) == (not all_stale):
        fail("give a NAME or --all-stale (not both)", 2)
    app = ctx.app()
    plan = app.plan_recompute(name, conversation_id)
    if plan.empty:
        click.echo(f"{name} is up to date" if name else "nothing is stale")
        return
    if plan.side_effects and not yes:
        click.echo("these statements call extensions that write or cannot be undone:", err=True)
        for line in plan.side_effects:
            click.echo(f"  {line}", err=True)
        if not sys.stdin.isatty() or not click.confirm("run them again?", err=True):
            fail("not recomputed (pass --yes to run them again)")
    click.echo(f"recomputing {', '.join(plan.names)}:", err=True)
    report = app.recompute(plan, conversation_id)
    result = report.outcome.result
    if result.stdout:
        click.echo(result.stdout, nl=not result.stdout.endswith("\n"))
    if result.error:
        click.echo(f"{result.error['type']}: {result.error['message']}", err=True)
    for changed, version, kind in report.outcome.changed:
        click.echo(f"  {changed} v{version}" + (" (deleted)" if kind == "deleted" else ""), err=True)
    left = app.stale(report.conversation_id)
    if left:
        click.echo(f"still stale: {', '.join(sorted(left))}", err=True)
    sys.exit(3 if result.limit else 0 if result.ok else 1)


@cli.command("rollback")
@click.argument("name")
@click.argument("version", type=int)
@_conversation
@pass_app
def rollback(ctx: AppContext, name: str, version: int, conversation_id: int | None) -> None:
    """Write a new version of NAME equal to VERSION (nothing is deleted; a rollback can be rolled back)."""
    change = ctx.app().rollback(name, version, conversation_id)
    click.echo(change.note)
    _print_stale(ctx.app(), change.conversation_id)


def _print_change(change, app=None) -> None:
    click.echo(change.note)
    for name, version, kind in change.changed:
        click.echo(f"  {name} v{version}" + (" (deleted)" if kind == "deleted" else ""))
    if app is not None:
        _print_stale(app, change.conversation_id)


def _print_stale(app, conversation_id: int) -> None:
    """After the timeline moved: which names now derive from versions that are no longer current."""
    stale = app.stale(conversation_id)
    if stale:
        click.echo("now stale (computed from versions that changed):")
        for name, why in sorted(stale.items()):
            click.echo(f"  {name} v{why.version}: {why.reason}")
        click.echo("bring them up to date: envloop recompute --all-stale")


@cli.command("undo")
@_conversation
@pass_app
def undo(ctx: AppContext, conversation_id: int | None) -> None:
    """Undo the newest turn or run that changed names; repeat to go further back, `redo` to come forward.

    Each name it changed gets a new version equal to its state before (names it
    created are deleted). Nothing is removed from the history.
    """
    _print_change(ctx.app().undo(conversation_id), ctx.app())


@cli.command("redo")
@_conversation
@pass_app
def redo(ctx: AppContext, conversation_id: int | None) -> None:
    """Bring back the turn the latest undo took back (repeat for earlier undos)."""
    _print_change(ctx.app().redo(conversation_id), ctx.app())


@cli.command("log")
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def log(ctx: AppContext, conversation_id: int | None, as_json: bool) -> None:
    """The conversation's turns and timeline operations (undo, redo, rollback, fork), oldest first."""
    entries = ctx.app().log(conversation_id)
    if as_json:
        print_json([{**vars(e), "created_at": e.created_at.isoformat()} for e in entries])
        return
    if not entries:
        click.echo("No turns yet.")
    for e in entries:
        when = e.created_at.strftime("%Y-%m-%d %H:%M")
        text = (e.text or "").splitlines()[0][:70] if e.text else ""
        mark = "  (undone)" if e.undone else ""
        click.echo(f"{e.turn:>4}  {when}  {e.kind:<8} {e.status:<16} {e.changed:>3} changed  {text}{mark}")


@cli.command("fork")
@_conversation
@click.option("--at", "at", type=int, metavar="TURN", help="Fork after this turn (default: the latest).")
@pass_app
def fork(ctx: AppContext, conversation_id: int | None, at: int | None) -> None:
    """Start a new conversation whose state is this one's after TURN; it becomes the current one."""
    app = ctx.app()
    parent = app.resolve(conversation_id)
    change = app.fork(parent, at)
    click.echo(f"{change.note}: conversation {change.conversation_id} ({len(change.changed)} names) "
               f"is now the current one")
    click.echo(f"back to the parent: envloop use {parent}")


@cli.command("use")
@click.argument("conversation_id", type=int, metavar="ID")
@pass_app
def use(ctx: AppContext, conversation_id: int) -> None:
    """Make conversation ID the current one (the default of every command)."""
    info = ctx.app().use(conversation_id)
    click.echo(f"conversation {info.id} is now the current one ({info.title or 'untitled'})")


@cli.command("artifacts")
@_conversation
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def artifacts(ctx: AppContext, conversation_id: int | None, as_json: bool) -> None:
    """List the conversation's artifacts (newest version of each)."""
    rows = ctx.app().artifacts(conversation_id)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("No artifacts yet.")
    for a in rows:
        click.echo(f"{a['name']:<30} v{a['version']:<3} {a['size']:>9} B  {a['media_type'] or ''}")


@cli.command("artifact")
@click.argument("name")
@click.option("--version", "version", type=int, metavar="N", help="Which version (default: the newest).")
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@_conversation
@pass_app
def artifact(ctx: AppContext, name: str, version: int | None, output: Path | None, conversation_id: int | None) -> None:
    """Print an artifact's content (or write it to FILE with -o)."""
    meta, data = ctx.app().artifact(name, version, conversation_id)
    if output is not None:
        output.write_bytes(data)
        click.echo(f"wrote {name} v{meta['version']} ({len(data)} bytes) to {output}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
