"""``envloop chat`` (the terminal chat) and ``envloop demo`` (a replayed conversation, no key needed).

The chat modules import prompt-toolkit and rich; they are imported inside the
commands so ``envloop --help`` and the other commands stay quick.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from envloop.channels.cli._app import AppContext, cli, pass_app


@cli.command("chat")
@click.option("--conversation", "conversation_id", type=int, metavar="ID", help="Open this conversation.")
@click.option("--resume", is_flag=True, help="Open the most recently active conversation.")
@click.option("--new", is_flag=True, help="Start a new conversation (the default).")
@click.option("--model", metavar="M", help="Model: a litellm model name or replay:PATH. Default: $ENVLOOP_MODEL.")
@click.option("--max-iterations", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Model round trips allowed per turn.")
@pass_app
def chat(ctx: AppContext, conversation_id: int | None, resume: bool, new: bool, model: str | None,
         max_iterations: int) -> None:
    """Talk to envloop in this terminal: messages go to the model, !CODE runs in the sandbox, /help lists commands.

    Works without a model too (!CODE and the slash commands). Ctrl-C cancels a
    running turn, Ctrl-D leaves. With input piped in, each line is handled as typed.
    """
    if sum([conversation_id is not None, resume, new]) > 1:
        raise click.UsageError("use only one of --conversation, --resume and --new")
    from envloop.channels.chat.app import open_chat

    open_chat(ctx.app(), conversation_id=conversation_id, resume=resume, model=model,
              max_iterations=max_iterations)


@cli.command("demo")
@click.option("--db", "demo_db", metavar="PATH|URL",
              help="Keep the demo conversation in this database (default: a temporary one, removed afterwards).")
@click.pass_context
def demo(click_ctx: click.Context, demo_db: str | None) -> None:
    """Play a short built-in conversation through the real engine, with a replayed model (no key, no network).

    A turn over two iterations, the var index, a second turn, a rollback and a
    why. It prints and exits. ENVLOOP_DB is not used: only --db keeps the demo.
    """
    from envloop.channels.chat.demo import play

    parent = click_ctx.parent
    if demo_db is None and parent is not None and parent.get_parameter_source("db") == ParameterSource.COMMANDLINE:
        demo_db = parent.params.get("db")  # `envloop --db X demo` keeps it too
    play(demo_db)
