"""``envloop doctor``: check the installation, the database, the sandbox and the model set-up."""

from __future__ import annotations

import sys

import click

from envloop.channels.cli._app import AppContext, cli, pass_app, print_json

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "info": "blue"}


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--no-sandbox", is_flag=True, help="Skip starting a sandbox worker (the slowest check).")
@pass_app
def doctor(ctx: AppContext, as_json: bool, no_sandbox: bool) -> None:
    """Versions, database and schema revision, sizes, conversations per channel, whether the sandbox's
    seccomp filter is active, the model and whether its key is present (never its value), and the
    optional Chromium and PostgreSQL the test suite can use.

    Exit code 1 when something needed is missing (a "fail" line), else 0.
    """
    from envloop.doctor import run_checks

    def show(check) -> None:
        label = click.style(f"{check.status:<5}", fg=_STYLE[check.status], bold=check.status == "fail")
        click.echo(f"{label} {check.name:<14} {check.detail}")

    checks, facts = run_checks(ctx.db, sandbox=not no_sandbox, progress=None if as_json else show)
    failed = [c.name for c in checks if c.status == "fail"]
    if as_json:
        print_json({"ok": not failed, "checks": [c.to_json() for c in checks], "facts": facts})
    elif failed:
        click.echo(f"\n{len(failed)} problem(s): {', '.join(failed)}", err=True)
    sys.exit(1 if failed else 0)
