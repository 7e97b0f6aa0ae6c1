"""The web channel: conversations, the var index and provenance in a browser (``envloop web``).

Server-rendered pages (Starlette, Jinja2, a vendored copy of htmx) over the
conversation layer; turns stream to the page as server-sent events. See
:mod:`.security` for how access is guarded and :mod:`.changes` for how a
turn run by another process reaches an open page.
"""

from envloop.channels.web.app import create_app
from envloop.channels.web.security import is_loopback, new_token

__all__ = ["create_app", "is_loopback", "new_token"]
