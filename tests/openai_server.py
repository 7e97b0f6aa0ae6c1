"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for testing litellm's real HTTP client.

Tests script it: each request takes the next :class:`Reply` from the queue
(answers, streamed or not, with usage; a status such as 429 with Retry-After
or 500; a stream that stalls; a body that is not JSON; a stream that waits
for the test to release it part-way).  Every request is recorded with its
headers and JSON body, so tests check what envloop actually sent.

It speaks just enough of the API: ``POST /v1/chat/completions`` with
``stream`` true (server-sent events, ``data: [DONE]``, a usage chunk when
``stream_options.include_usage``) or false (one JSON body).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted response.

    ``text``: the assistant's reply.  ``status``: an HTTP error status instead
    (with ``retry_after`` seconds as a header).  ``stall_after``: in a stream,
    stop sending after this many pieces and hang until the server stops.
    ``hold_after``: in a stream, wait after this many pieces until the test
    calls :meth:`release`.  ``malformed``: send a body (or event) that is not
    JSON.  ``chunk_delay``: seconds between streamed pieces.
    """

    text: str = ""
    status: int = 200
    retry_after: float | None = None
    stall_after: int | None = None
    hold_after: int | None = None
    malformed: bool = False
    chunk_delay: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Request:
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_message(self) -> str:
        return next(m["content"] for m in reversed(self.body["messages"]) if m["role"] == "user")


def pieces(text: str, words: int = 2) -> list[str]:
    """``text`` in pieces of a few words, whitespace kept."""
    parts = re.findall(r"\s*\S+\s*|\s+", text)
    return ["".join(parts[i:i + words]) for i in range(0, len(parts), words)]


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


class OpenAIServer:
    """Start with :meth:`start`; ``base_url`` is what ENVLOOP_API_BASE / OPENAI_API_BASE point at."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *replies: Reply | str) -> list[Reply]:
        items = [r if isinstance(r, Reply) else Reply(r) for r in replies]
        with self._lock:
            self.replies.extend(items)
        return items

    def start(self) -> OpenAIServer:
        threading.Thread(target=self._httpd.serve_forever, name="openai-test-server", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for reply in self.replies:
            reply.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if not self.replies:
                return Reply(status=500, text="the test scripted no more replies")
            return self.replies.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the connection closes after each response: no keep-alive state

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = server._next(Request(dict(self.headers), body))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                elif reply.status != 200:
                    headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
                    error = {"message": reply.text or f"scripted status {reply.status}", "type": "server_error"}
                    self._json(reply.status, {"error": error}, headers)
                elif body.get("stream"):
                    self._stream(body, reply)
                elif reply.malformed:
                    self._raw(200, b"{this is not json", "application/json")
                else:
                    self._json(200, self._completion(body, reply))

            def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
                return {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "test"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.text}}],
                    "usage": self._usage(body, reply.text),
                }

            @staticmethod
            def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
                prompt = sum(tokens(m.get("content") or "") for m in body.get("messages", []))
                return {"prompt_tokens": prompt, "completion_tokens": tokens(text),
                        "total_tokens": prompt + tokens(text)}

            def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._raw(status, json.dumps(data).encode(), "application/json", headers)

            def _raw(self, status: int, data: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _event(self, data: dict[str, Any] | str) -> None:
                text = data if isinstance(data, str) else json.dumps(data)
                self.wfile.write(f"data: {text}\n\n".encode())
                self.wfile.flush()

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": body.get("model", "test")}
                try:
                    for number, piece in enumerate(pieces(reply.text)):
                        if number == reply.stall_after:
                            server.stopping.wait()
                            return
                        if number == reply.hold_after:
                            reply.released.wait()
                        if number and reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                        if reply.malformed and number == 1:
                            self._event("{broken json")
                            return
                        delta = {"content": piece} if number else {"role": "assistant", "content": piece}
                        self._event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                    self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        self._event({**base, "choices": [], "usage": self._usage(body, reply.text)})
                    self._event("[DONE]")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a cancelled turn): nothing to finish

        return Handler
