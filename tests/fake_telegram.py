"""A fake Telegram Bot API server on 127.0.0.1, so tests run the real bot without a network.

It speaks the Bot API's HTTP shape (``POST /bot<token>/<method>``, form or
JSON parameters, ``{"ok": true, "result": ...}``) for the methods the bot and
python-telegram-bot call, records every call, and keeps each chat's messages
(with their edits) so tests can assert on what a person would see. It is
stricter than it needs to be where mistakes are easy: a wrong token is a 401,
HTML that Telegram would refuse (an unknown or unbalanced tag, a bare ``<``,
``>`` or ``&``) or a text over 4,096 UTF-16 units is a 400, and an edit that
changes nothing is the real "message is not modified" 400.

Tests act as users with :meth:`FakeTelegram.send_text` and
:meth:`FakeTelegram.press`, and wait with :meth:`FakeTelegram.wait_for`.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

__all__ = ["BOT_USER", "Call", "FakeTelegram", "html_problem"]

T = TypeVar("T")

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "envloop test", "username": "envloop_test_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
_JSON_PARAMS = {"reply_markup", "reply_parameters", "commands", "allowed_updates", "link_preview_options"}
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a", "span", "tg-spoiler",
         "blockquote", "tg-emoji"}
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)((?:\s+[\w-]+=\"[^\"]*\")*)\s*>")
_BAD_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


@dataclass
class Call:
    """One request the bot made."""

    seq: int
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


def html_problem(text: str) -> str | None:
    """Why Telegram would refuse ``text`` in HTML parse mode, or None."""
    stack: list[str] = []
    for match in _TAG.finditer(text):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in _TAGS:
            return f"unsupported tag <{name}>"
        if closing:
            if not stack or stack.pop() != name:
                return f"unbalanced </{name}>"
        else:
            stack.append(name)
    if stack:
        return f"unclosed <{stack[-1]}>"
    bare = _TAG.sub("", text)
    if "<" in bare or ">" in bare:
        return "a bare < or > outside a tag"
    if _BAD_AMP.search(bare):
        return "a bare & that is not an entity"
    if len(html.unescape(bare).encode("utf-16-le")) // 2 > 4096:
        return "message is too long"
    return None


class FakeTelegram:
    """The fake server; ``with FakeTelegram(token) as fake:`` starts and stops it."""

    def __init__(self, token: str, *, poll_cap: float = 0.3) -> None:
        self.token = token
        self.poll_cap = poll_cap
        self.calls: list[Call] = []
        self.chats: dict[int, dict[int, dict[str, Any]]] = {}  # chat id -> message id -> message
        self.commands: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._seq = itertools.count(1)
        self._cond = threading.Condition(threading.RLock())
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-telegram", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what users do --------------------------------------------------------------

    def send_text(self, chat_id: int, user_id: int, text: str) -> int:
        """A user sends ``text`` in ``chat_id``; returns the message id."""
        message = self._message(chat_id, text, sender={"id": user_id, "is_bot": False, "first_name": f"user{user_id}"})
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self._push({"message": message})
        return message["message_id"]

    def press(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """A user presses an inline button with callback ``data`` under a bot message; returns the query id."""
        with self._cond:
            message = dict(self.chats[chat_id][message_id])
        query_id = f"cq{next(self._seq)}"
        self._push({"callback_query": {"id": query_id, "chat_instance": "fake", "data": data, "message": message,
                                       "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}}})
        return query_id

    # -- what tests look at -----------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float = 60.0, what: str = "") -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every call the bot makes); return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = "\n".join(f"  {c.method} {c.params}"[:300] for c in self.calls[-15:])
                    raise AssertionError(f"timed out waiting for {what or predicate}; recent calls:\n{recent}")
                self._cond.wait(min(remaining, 0.2))

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method
                    and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat as they look now (after edits), oldest first."""
        with self._cond:
            return [m for _, m in sorted(self.chats.get(chat_id, {}).items()) if m["from"]["is_bot"]]

    def texts(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.bot_messages(chat_id)]

    # -- the server side -----------------------------------------------------------------

    def _push(self, update: dict[str, Any]) -> None:
        with self._cond:
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._cond.notify_all()

    def _message(self, chat_id: int, text: str, sender: dict[str, Any]) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "private", "first_name": f"chat{chat_id}"} if chat_id > 0 else \
            {"id": chat_id, "type": "group", "title": f"group{chat_id}"}
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat, "from": sender,
                   "text": text}
        with self._cond:
            self.chats.setdefault(chat_id, {})[message["message_id"]] = message
        return message

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        """Record a call and answer it (raises ApiError for the 4xx cases)."""
        with self._cond:
            self.calls.append(Call(next(self._seq), method, params))
            self._cond.notify_all()
        if method == "getUpdates":
            return self._get_updates(params)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            raise ApiError(404, f"Not Found: method {method} is not faked")
        return handler(params)

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), self.poll_cap)
        deadline = time.monotonic() + wait
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed ones are gone
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return [dict(u) for u in self._updates[:100]]

    def _api_getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands = list(params.get("commands") or [])
        return True

    def _api_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands

    def _api_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    def _api_close(self, params: dict[str, Any]) -> Any:
        return True

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        text = str(params.get("text") or "")
        self._check_text(text, params)
        message = self._message(int(params["chat_id"]), text, sender=BOT_USER)
        message["parse_mode"] = params.get("parse_mode")
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        chat_id, message_id, text = int(params["chat_id"]), int(params["message_id"]), str(params.get("text") or "")
        self._check_text(text, params)
        with self._cond:
            message = self.chats.get(chat_id, {}).get(message_id)
            if message is None or not message["from"]["is_bot"]:
                raise ApiError(400, "Bad Request: message to edit not found")
            markup = params.get("reply_markup")
            if message["text"] == text and message.get("reply_markup") == markup:
                raise ApiError(400, "Bad Request: message is not modified")
            message.update(text=text, parse_mode=params.get("parse_mode"), edits=message.get("edits", 0) + 1)
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            return dict(message)

    @staticmethod
    def _check_text(text: str, params: dict[str, Any]) -> None:
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        problem = html_problem(text) if params.get("parse_mode") == "HTML" else None
        if problem is None and len(text.encode("utf-16-le")) // 2 > 4096 and params.get("parse_mode") != "HTML":
            problem = "message is too long"
        if problem:
            raise ApiError(400, f"Bad Request: can't parse entities: {problem}")


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    """Form values arrive as strings; the structured ones are JSON (as python-telegram-bot sends them)."""
    out = dict(params)
    for key in _JSON_PARAMS & set(out):
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def _handler_for(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            prefix, _, method = parts.path.lstrip("/").partition("/")
            if prefix != f"bot{fake.token}":
                return self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            params: dict[str, Any] = dict(parse_qsl(parts.query))
            if "json" in (self.headers.get("Content-Type") or ""):
                params.update(json.loads(body or b"{}"))
            elif body:
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
            try:
                result = fake.handle(method, _decode(params))
            except ApiError as exc:
                return self._reply(exc.code, {"ok": False, "error_code": exc.code, "description": exc.description})
            self._reply(200, {"ok": True, "result": result})

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the bot stopped (or was killed) during a long poll

    return Handler
