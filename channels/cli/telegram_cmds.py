"""``envloop telegram``: run the Telegram bot channel on this database."""

from __future__ import annotations

import logging
import sys

import click

from envloop.channels.cli._app import AppContext, cli, fail, pass_app
from envloop.errors import EnvloopError

DEFAULT_API_URL = "https://api.telegram.org"


@cli.command("telegram")
@click.option("--token", metavar="TOKEN", envvar="ENVLOOP_TELEGRAM_TOKEN", show_envvar=True,
              help="The bot token from @BotFather. Prefer the environment variable: other users of this "
                   "machine can read command-line arguments.")
@click.option("--allowed", "allowed", metavar="IDS", envvar="ENVLOOP_TELEGRAM_ALLOWED", show_envvar=True,
              help="Comma-separated Telegram user ids allowed to use the bot (required unless --allow-anyone).")
@click.option("--allow-anyone", is_flag=True,
              help="Answer any Telegram user. Each chat gets its own conversation and sandbox, but everyone "
                   "spends your model budget and runs code on this machine.")
@click.option("--api-url", metavar="URL", envvar="ENVLOOP_TELEGRAM_API_URL", show_envvar=True,
              default=DEFAULT_API_URL, show_default=True,
              help="Bot API server root (a local Bot API server, or a fake one in tests).")
@click.option("--model", metavar="M", help="Model: a litellm model name or replay:PATH. Default: $ENVLOOP_MODEL.")
@click.option("--max-iterations", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Model round trips allowed per turn.")
@click.option("--approval-timeout", type=click.FloatRange(1, 3600), default=120.0, show_default=True,
              help="Seconds to wait for Yes/No on an irreversible call before denying it. The wait does "
                   "not count against the block's time limit.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging (the token is still redacted).")
@pass_app
def telegram(ctx: AppContext, token: str | None, allowed: str | None, allow_anyone: bool, api_url: str,
             model: str | None, max_iterations: int, approval_timeout: float, verbose: bool) -> None:
    """Run the Telegram bot: each chat is a conversation. Stops on Ctrl-C or SIGTERM.

    Commands in a chat: /new /vars /why NAME /history NAME /rollback NAME VERSION
    /undo /cost /help; any other text is a question for the model.
    """
    from telegram.error import InvalidToken, NetworkError

    from envloop.channels.telegram.access import Access, parse_allowed
    from envloop.channels.telegram.bot import BotConfig, run_bot
    from envloop.channels.telegram.redact import configure_logging, redact, secret_forms

    token = (token or "").strip()
    if not token:
        fail("no bot token: set ENVLOOP_TELEGRAM_TOKEN (or pass --token)")
    if not api_url.startswith(("https://", "http://")):
        fail(f"ENVLOOP_TELEGRAM_API_URL must be an http(s) URL, not {api_url!r}")
    ids = parse_allowed(allowed)
    if not ids and not allow_anyone:
        fail("refusing to start without an allowlist: set ENVLOOP_TELEGRAM_ALLOWED to comma-separated Telegram "
             "user ids, or pass --allow-anyone")
    configure_logging(token, verbose=verbose)
    app = ctx.app()
    app.model(model)  # a missing or broken model fails here, with how to fix it, not on the first message
    config = BotConfig(token=token, access=Access(ids, anyone=allow_anyone), api_url=api_url, model=model,
                       max_iterations=max_iterations, approval_timeout=approval_timeout)
    try:
        run_bot(app, config)
    except InvalidToken:
        fail("the Bot API rejected the token (check ENVLOOP_TELEGRAM_TOKEN)")
    except NetworkError as exc:
        fail(redact(f"cannot reach the Bot API at {api_url}: {exc}", secret_forms(token)))
    except EnvloopError:
        raise  # one line from the CLI group, as for every command
    except Exception:
        # Through logging, not Python's own traceback printer: the formatter masks the token.
        logging.getLogger("envloop.channels.telegram").exception("the bot stopped on an unexpected error")
        sys.exit(1)
