"""Keep the bot token out of every log line.

The Bot API puts the token in the URL path (``/bot<token>/getUpdates``), and
libraries log URLs: httpx logs every request at INFO, python-telegram-bot logs
its base URL at DEBUG, and a network error may carry the URL in its message or
traceback. Silencing one logger would miss the next, so the formatter of every
handler on the root logger redacts the token (and its secret half, and their
URL-encoded forms) from the finished text, tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["RedactingFormatter", "configure_logging", "redact", "secret_forms"]

MASK = "<redacted>"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def secret_forms(token: str) -> list[str]:
    """Every spelling of the token that could reach a log, longest first (so the full token goes in one piece)."""
    forms = {token, quote(token, safe="")}
    _, _, secret = token.partition(":")
    if len(secret) >= 8:  # the part after the bot id is the secret; the id alone is public
        forms |= {secret, quote(secret, safe="")}
    return sorted((f for f in forms if f), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose output never contains the given secrets."""

    def __init__(self, secrets: Iterable[str], fmt: str | None = LOG_FORMAT) -> None:
        super().__init__(fmt)
        self.secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def configure_logging(token: str, *, verbose: bool = False) -> None:
    """Log to stderr through redacting formatters; httpx's per-request lines only with ``verbose``."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    secrets = secret_forms(token)
    for handler in root.handlers:
        handler.setFormatter(RedactingFormatter(secrets))
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
