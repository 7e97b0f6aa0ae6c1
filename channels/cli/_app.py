"""The click group, its global options, and one-line error reporting.

Every EnvloopError becomes ``Error: <one line>`` on stderr with exit code 1:
the user sees what went wrong and where, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from envloop import __version__
from envloop.conversation import Envloop
from envloop.errors import EnvloopError

__all__ = ["AppContext", "cli", "fail", "main", "pass_app", "print_json"]


class AppContext:
    """What every command gets: the global options and a lazily opened Envloop."""

    def __init__(self, db: str | None) -> None:
        self.db = db
        self._app: Envloop | None = None

    def app(self, *, upgrade: bool = True) -> Envloop:
        if self._app is None:
            self._app = Envloop.open(self.db, upgrade=upgrade)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


pass_app = click.make_pass_decorator(AppContext)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EnvloopError as exc:
            raise click.ClickException(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="envloop")
@click.option(
    "--db",
    metavar="PATH|URL",
    envvar="ENVLOOP_DB",
    show_envvar=True,
    help="Database file or SQLAlchemy URL. Default: $XDG_DATA_HOME/envloop/envloop.db "
    "(~/.local/share/envloop/envloop.db).",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """envloop: a conversational REPL environment.

    An LLM answers you by writing Python that runs in a sandbox belonging to the
    conversation; every name it defines is versioned in one database.
    """
    app_ctx = AppContext(db)
    ctx.obj = app_ctx
    ctx.call_on_close(app_ctx.close)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="envloop")
