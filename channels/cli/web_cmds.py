"""``envloop web``: serve the conversations in a browser (see envloop.channels.web)."""

from __future__ import annotations

import click

from envloop.channels.cli._app import AppContext, cli, fail, pass_app


@cli.command("web")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but this machine's loopback needs an explicit --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--model", metavar="M", help="Model: a litellm model name or replay:PATH. Default: $ENVLOOP_MODEL.")
@click.option("--max-iterations", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Model round trips allowed per turn.")
@click.option("--token", metavar="T", envvar="ENVLOOP_WEB_TOKEN", show_envvar=True,
              help="Access token (at least 16 characters). Default: [web] token in config.toml, else a random "
                   "one, printed at start.")
@click.option("--approval-timeout", type=click.FloatRange(1, 3600), default=120.0, show_default=True,
              help="Seconds to wait for Allow/Deny on an irreversible call before denying it.")
@pass_app
def web(ctx: AppContext, host: str, port: int, model: str | None, max_iterations: int, token: str | None,
        approval_timeout: float) -> None:
    """Serve the conversations in a browser: chat, variables, versions, lineage.

    Every request needs the access token: open the link printed at start (it
    sets a cookie). Stops on Ctrl-C.
    """
    from envloop.channels.web.security import MIN_TOKEN_CHARS, is_loopback, new_token
    from envloop.channels.web.server import serve

    if not token:
        token = _configured_token()
    if token is not None and len(token.strip()) < MIN_TOKEN_CHARS:
        fail(f"the web token must have at least {MIN_TOKEN_CHARS} characters")
    if not is_loopback(host) and not token:
        fail(f"refusing to listen on {host} without an access token you chose: pass --token "
             "(or set ENVLOOP_WEB_TOKEN, or token in the [web] table of config.toml), or keep the default "
             "--host 127.0.0.1")
    app = ctx.app()
    if model is not None:
        app.model(model)  # a missing or broken model fails here, with how to fix it, not on the first message
    serve(app, host=host, port=port, token=(token or new_token()).strip(), model=model,
          max_iterations=max_iterations, approval_timeout=approval_timeout)


def _configured_token() -> str | None:
    """``token`` in the ``[web]`` table of config.toml, if set."""
    from envloop.settings import section

    token = section("web").get("token")
    if token is not None and not isinstance(token, str):
        fail("token in the [web] table of config.toml must be a string")
    return token
