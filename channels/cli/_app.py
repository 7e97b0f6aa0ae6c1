"""The click group, its global options, and one-line error reporting.

Every EnvloopError becomes ``Error: <one line>`` on stderr with exit code 1:
the user sees what went wrong and where, never a traceback.

Start-up is kept cheap: ``envloop --help`` imports click and nothing of the
engine. Commands live in their own modules and are imported only when named
(``COMMANDS`` maps each name to its module and its one-line help), so the
store, SQLAlchemy and the sandbox load only for the commands that use them.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from envloop import __version__
from envloop.errors import EnvloopError

if TYPE_CHECKING:
    from envloop.conversation import Envloop

__all__ = ["COMMANDS", "AppContext", "cli", "fail", "main", "pass_app", "print_json"]

#: Every top-level command: name -> (module under envloop.channels.cli, one-line help).
#: A module registers its commands with ``@cli.command`` when it is imported;
#: tests/test_cli_startup.py checks this table against what the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("chat_cmds", "Talk to envloop in this terminal."),
    "demo": ("chat_cmds", "Play a short built-in conversation (no key, no network)."),
    "ask": ("turn_cmds", "Ask the model one question; it answers by running code."),
    "inspect": ("turn_cmds", "Print exactly what was sent to the model."),
    "run": ("env_cmds", "Run CODE as a block in a conversation's sandbox."),
    "vars": ("env_cmds", "The var index: every name, its version, type, preview."),
    "history": ("env_cmds", "Every version of NAME with the code that made it."),
    "diff": ("env_cmds", "What changed between two versions of a name."),
    "why": ("env_cmds", "Where NAME came from: the block and the versions it read."),
    "rollback": ("env_cmds", "Write a new version of NAME equal to an old one."),
    "undo": ("env_cmds", "Undo the newest turn that changed names (repeatable)."),
    "redo": ("env_cmds", "Bring back what the latest undo took back."),
    "log": ("env_cmds", "The turns and timeline operations of a conversation."),
    "fork": ("env_cmds", "Start a new conversation from this one's state."),
    "use": ("env_cmds", "Make a conversation the current one."),
    "recompute": ("env_cmds", "Re-run the statements that made stale names."),
    "artifacts": ("env_cmds", "List the conversation's artifacts."),
    "artifact": ("env_cmds", "Print an artifact's content or write it to a file."),
    "export": ("export_cmds", "Write a conversation as a notebook, script or Markdown."),
    "extensions": ("ext_cmds", "List the active extensions and their functions."),
    "conversations": ("store_cmds", "List conversations, most recently active first."),
    "db": ("store_cmds", "Inspect and upgrade the database schema."),
    "telegram": ("telegram_cmds", "Run the Telegram bot."),
    "web": ("web_cmds", "Serve the conversations in a browser (chat, variables, lineage)."),
    "instructions": ("instructions_cmds", "Show or change a conversation's instructions (versioned)."),
    "delete": ("privacy_cmds", "Delete a conversation: its rows, unshared blobs and workspace."),
    "prune": ("privacy_cmds", "Drop old iterations' prompts and outputs; keep every version."),
    "doctor": ("doctor_cmds", "Check the installation, database, sandbox and model set-up."),
}


class AppContext:
    """What every command gets: the global options and a lazily opened Envloop."""

    def __init__(self, db: str | None) -> None:
        self.db = db
        self._app: Envloop | None = None

    def app(self, *, upgrade: bool = True) -> Envloop:
        if self._app is None:
            from envloop.conversation import Envloop

            self._app = Envloop.open(self.db, upgrade=upgrade)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


pass_app = click.make_pass_decorator(AppContext)


class _Group(click.Group):
    """A click group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"{__package__}.{COMMANDS[cmd_name][0]}")
        command = self.commands.get(cmd_name)
        if command is not None and cmd_name in COMMANDS and command.short_help is None:
            command.short_help = COMMANDS[cmd_name][1]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the table, without importing their modules."""
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        rows += [
            (name, cmd.get_short_help_str())
            for name, cmd in sorted(self.commands.items())
            if name not in COMMANDS and not cmd.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
    """Console-script entry point.

    As the console script (no ``argv``) it ends the process with ``os._exit``
    once the command has closed everything it opened and the output is
    flushed: tearing down SQLAlchemy's and the engine's modules at interpreter
    exit costs ~70 ms on every command and does nothing a user can see.
    """
    _safe_text_streams()
    if argv is not None:
        cli.main(args=[_decodable(arg) for arg in argv], prog_name="envloop")
        return
    try:
        cli.main(args=[_decodable(arg) for arg in sys.argv[1:]], prog_name="envloop")
        code: int = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    _fast_exit(code)


def _decodable(arg: str) -> str:
    """An argument as UTF-8 text: bytes that were not UTF-8 (``$'caf\\xe9'``) become U+FFFD.

    Python hands them over as lone surrogates, which no database, terminal or
    JSON encoder accepts further down.
    """
    return os.fsencode(arg).decode("utf-8", "replace") if isinstance(arg, str) else arg


def _safe_text_streams() -> None:
    """Terminals get :class:`~envloop.textsafe.TerminalGuard`; every stream writes surrogates escaped."""
    from envloop.textsafe import TerminalGuard

    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
        if isinstance(stream, TerminalGuard):
            continue
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty:
            setattr(sys, name, TerminalGuard(stream))


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _fast_exit(code: int) -> NoReturn:
    """Flush what a user would see, then leave without module teardown."""
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`envloop vars | head`) loses nothing of ours
            code = code or 1
    os._exit(code)
