"""Commands that talk to the model: ``ask`` (one turn) and ``inspect`` (exactly what was sent)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from envloop.channels.cli._app import AppContext, cli, pass_app, print_json
from envloop.channels.cli.progress import Progress
from envloop.conversation import Event
from envloop.waiting import WaitCancelled

EXIT_CODES = {"done": 0, "error": 1, "budget_exhausted": 3, "interrupted": 4, "cancelled": 130}


def _approver(yes: bool):
    def approve(name: str, description: str) -> bool:
        if yes:
            return True
        if sys.stdin.isatty():
            return click.confirm(f"Allow {name}: {description}?", default=False, err=True)
        click.echo(f"  denied {name} (run with --yes to allow irreversible calls)", err=True)
        return False

    return approve


@cli.command("ask")
@click.argument("text")
@click.option("--conversation", "conversation_id", type=int, metavar="ID", help="Continue this conversation.")
@click.option("--continue", "continue_", is_flag=True, help="Continue the most recent conversation (the default).")
@click.option("--new", is_flag=True, help="Start a new conversation.")
@click.option("--model", metavar="M", help="Model: a litellm model name or replay:PATH. Default: $ENVLOOP_MODEL.")
@click.option("--max-iterations", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Model round trips allowed for this turn.")
@click.option("--yes", is_flag=True, help="Approve irreversible extension calls without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the answer.")
@click.option("--quiet", "-q", is_flag=True, help="Show only the answer, not the model's work.")
@pass_app
def ask(ctx: AppContext, text: str, conversation_id: int | None, continue_: bool, new: bool, model: str | None,
        max_iterations: int, yes: bool, as_json: bool, quiet: bool) -> None:
    """Ask the model one question; it answers by running code in the conversation's sandbox.

    While it works, stderr shows the model's reply as it streams in (its
    thinking and code) and each block's output; --quiet shows none of it,
    --json one line per step. The answer goes to stdout. Ctrl-C cancels the
    turn, even mid-reply. Exit code: 0 answered, 1 error, 3 iterations ran out
    (best partial answer printed), 130 cancelled.
    """
    if sum([conversation_id is not None, continue_, new]) > 1:
        raise click.UsageError("use only one of --conversation, --continue and --new")
    progress = Progress("quiet" if quiet else "steps" if as_json else "full")
    app = ctx.app()
    if conversation_id is None and not new:
        new = not app.list_conversations()
    cancel = threading.Event()
    state: dict[str, Any] = {}

    def on_event(event: Event) -> None:
        if event.kind == "turn_started":
            state["cid"] = event.data["conversation_id"]
        progress(event)

    def on_sigint(signum: int, frame: Any) -> None:
        if "cid" in state:
            click.echo(click.style("  cancelling…", dim=True), err=True)
            app.cancel(state["cid"])
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        result = app.send(text, conversation_id=conversation_id, new=new, model=model,
                          max_iterations=max_iterations, on_event=on_event, approve=_approver(yes), cancel=cancel)
    except WaitCancelled as exc:  # Ctrl-C while another turn held the conversation: nothing ran
        click.echo(f"({exc})", err=True)
        sys.exit(EXIT_CODES["cancelled"])
    finally:
        signal.signal(signal.SIGINT, previous)
    if as_json:
        print_json(result.to_json())
    else:
        if result.answer is not None:
            click.echo(result.answer)
        if result.status != "done":
            click.echo(f"({result.status}: {result.error})", err=True)
        cost = f", ${result.cost:.4f}" if result.cost else ""
        footer = (f"— conversation {result.conversation_id} turn {result.turn}: {result.iterations} iterations, "
                  f"{result.tokens_in}+{result.tokens_out} tokens{cost}, {result.duration_ms / 1000:.1f} s")
        if not quiet:
            click.echo(click.style(footer, dim=True), err=True)
    sys.exit(EXIT_CODES.get(result.status, 1))


@cli.command("inspect")
@click.option("--conversation", "conversation_id", type=int, metavar="ID", help="Conversation id (default: the most recent).")
@click.option("--turn", type=int, metavar="T", help="Which turn (default: the last one that asked the model).")
@click.option("--iteration", type=int, metavar="N", help="Which iteration of the turn (default: its last).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def inspect(ctx: AppContext, conversation_id: int | None, turn: int | None, iteration: int | None,
            as_json: bool) -> None:
    """Print exactly what was sent to the model in one iteration, and what it replied."""
    data = ctx.app().inspect(conversation_id, turn=turn, iteration=iteration)
    if as_json:
        print_json(data)
        return
    click.echo(f"# conversation {data['conversation_id']}, turn {data['turn']}, iteration {data['iteration']} ({data['model']})")
    if data.get("instructions"):
        now = data["instructions"]
        shown = f"v{now['version']}" if now["source"] == "conversation" else now["source"]
        click.echo(f"# instructions in force now: {shown} (`envloop instructions` shows them)")
    for message in data["messages"]:
        click.echo(click.style(f"\n── {message['role']} ──", bold=True))
        click.echo(message["content"])
    click.echo(click.style("\n── reply ──", bold=True))
    click.echo(data["reply"] if data["reply"] is not None else f"(no reply: {data['error']})")
