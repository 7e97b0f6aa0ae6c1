"""Running the web channel under uvicorn, and telling the person where to open it."""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

import click
import uvicorn

from envloop.channels.web.app import create_app
from envloop.errors import EnvloopError

__all__ = ["serve"]


def _bind(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so a busy port is one clear error and port 0 gives the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise EnvloopError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, *, host: str, port: int, token: str, model: str | None = None, max_iterations: int = 8,
          approval_timeout: float = 120.0) -> None:
    """Serve until Ctrl-C or SIGTERM; prints the link (with the token) first."""
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    stopping = threading.Event()
    asgi = create_app(app, token=token, model=model, max_iterations=max_iterations,
                      approval_timeout=approval_timeout, cookie_name=f"envloop_web_{port}", stopping=stopping)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"envloop web: open http://{shown}:{port}/?token={token}", err=False)
    click.echo("Anyone with this link can run code here as you. Ctrl-C stops.", err=True)
    sys.stdout.flush()
    config = uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    _Server(config, stopping).run(sockets=[sock])


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app's event streams to end as soon as Ctrl-C or SIGTERM arrives.

    uvicorn waits for open connections before it stops, and a page's event
    stream never ends by itself; without this it would be cut off after the
    grace period, with a traceback.
    """

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)
