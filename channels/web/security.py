"""Who may use the web channel: a token on every request, CSRF on every POST, strict headers.

The page runs code on this machine, so "it only listens on 127.0.0.1" is not
enough (any local user, any browser tab on a rebinding domain can reach a
loopback port). Every request must carry the token printed at start: once in
the link (``/?token=…``), which sets an HttpOnly, SameSite=Strict cookie and
redirects to the same page without the token in the address bar; then the
cookie. Scripts may send ``Authorization: Bearer TOKEN`` instead.

State changes are POSTs only, and each carries a CSRF token (a form field or
the ``X-CSRF-Token`` header htmx sends) derived from the token with HMAC, so
it can be put in pages without revealing the token; a POST whose ``Origin``
is not this server's is refused as well. Everything else answers 401
(no token) or 403 (a token or CSRF check failed) before any route runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["LOOPBACK", "Guard", "is_loopback", "new_token"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_TOKEN_CHARS = 16

#: Scripts from this server only; no inline script, no framing, no referrer (the first link holds the token).
HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


def new_token() -> str:
    """A random access token (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK


class Guard:
    """ASGI middleware: the token check, the cookie hand-off, CSRF for POSTs, security headers."""

    def __init__(self, app: ASGIApp, token: str, *, cookie_name: str = "envloop_web") -> None:
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the web token must have at least {MIN_TOKEN_CHARS} characters")
        self.app = app
        self.token = token
        self.cookie_name = cookie_name
        self.session = _derive(token, "session")
        self.csrf = _derive(token, "csrf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the channel has none: refuse before anything reads it
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if "token" in query:
            await self._hand_off(scope, query, send)
            return
        if not (self._has_cookie(headers) or self._has_bearer(headers)):
            await _plain(send, 401, "This envloop web server needs its access token: open the link it printed "
                                    "when it started (…/?token=…).")
            return
        if scope["method"] not in ("GET", "HEAD"):
            problem = await self._csrf_problem(scope, headers, receive)
            if problem:
                await _plain(send, 403, problem)
                return
            receive = self._replay(scope, receive)
        await self.app(scope, receive, _with_headers(send))

    # -- the token -----------------------------------------------------------------

    async def _hand_off(self, scope: Scope, query: dict[str, str], send: Send) -> None:
        """A link with the token: set the cookie and redirect to the same page without it."""
        if scope["method"] != "GET" or not hmac.compare_digest(query["token"].encode(), self.token.encode()):
            await _plain(send, 403, "Wrong access token.")
            return
        rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
        path = "/" + (scope.get("root_path", "") + scope["path"]).lstrip("/")  # never "//host": no open redirect
        location = path + (f"?{rest}" if rest else "")
        cookie = f"{self.cookie_name}={self.session}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1", "replace")),
                                (b"set-cookie", cookie.encode()), *HEADERS]})
        await send({"type": "http.response.body", "body": b""})

    def _has_cookie(self, headers: dict[str, str]) -> bool:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie_name and hmac.compare_digest(value.encode(), self.session.encode()):
                return True
        return False

    def _has_bearer(self, headers: dict[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())

    # -- CSRF ----------------------------------------------------------------------

    async def _csrf_problem(self, scope: Scope, headers: dict[str, str], receive: Receive) -> str | None:
        """Why this POST is refused, or None. Reads (and keeps) the body to find the form field."""
        origin = headers.get("origin")
        if origin and origin != "null" and origin.split("://", 1)[-1] != headers.get("host", ""):
            return "Cross-site request refused (its Origin is not this server)."
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 1_000_000:
                return "Request body too large."
            if not message.get("more_body"):
                break
        scope["envloop.body"] = bytes(body)
        sent = headers.get("x-csrf-token")
        if sent is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            sent = dict(parse_qsl(body.decode("utf-8", "replace"))).get("csrf")
        if not sent or not hmac.compare_digest(sent.encode(), self.csrf.encode()):
            return "Missing or wrong CSRF token: reload the page and try again."
        return None

    @staticmethod
    def _replay(scope: Scope, original: Receive) -> Receive:
        """A ``receive`` that hands the app the body the CSRF check already read, then waits as before."""
        body = scope.pop("envloop.body", b"")
        sent = False

        async def receive() -> MutableMapping[str, Any]:
            nonlocal sent
            if sent:
                return await original()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return receive


def _derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), f"envloop-web:{purpose}".encode(), hashlib.sha256).hexdigest()


def _with_headers(send: Send) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            present = {name for name, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in present)]
        await send(message)

    return wrapped


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
