"""The replay model: canned replies from a JSON file, for tests, demos and benchmarks.

It is a real :class:`~envloop.llm.client.ModelClient`, so tests drive the
whole engine (and the CLI) with it and never touch a network. The file is a
JSON list; each item is either a reply text or an object::

    [
      "Let me look.\\n```python\\nx = 41 + 1\\n```",
      {"reply": "```python\\nanswer(x)\\n```", "delay": 0.5, "tokens_in": 900, "tokens_out": 12, "cost": 0.001}
    ]

- ``reply`` (required in an object): the text the model "says".
- ``delay``: seconds to wait before answering (the wait ends early, with
  :class:`~envloop.llm.client.ModelCancelled`, when the caller cancels).
- ``tokens_in`` / ``tokens_out``: reported token counts; by default they are
  estimated (about four characters a token of the messages and of the reply),
  so budgets and footers have numbers.
- ``cost``: reported cost in USD; by default ``0.0`` -- a replay is free, and
  saying so (rather than "unknown") keeps cost budgets and sums working.
- ``chunk_delay``: seconds between the pieces (a few words each) when the
  reply is streamed; default the spec's ``?chunk_delay=S``, else 0.
- ``broken``: an error message: the stream breaks after the reply's text with
  it (a provider that dropped the connection), and ``complete`` fails with it.
- ``comment``: ignored; a place for notes. Any other key is an error, so a
  typo such as ``"dealy"`` does not silently do nothing.

Replies are consumed in order; one instance keeps its position (each
:func:`~envloop.llm.get_model` call makes a fresh instance that starts at the
first reply). Running out is a :class:`~envloop.errors.ModelError`.

Latency for every reply (for benchmarks), in seconds, first match wins: the
item's ``delay``, then a ``?latency=S`` suffix on the spec
(``replay:bench.json?latency=0.05``), then ``$ENVLOOP_REPLAY_LATENCY``, else 0.

The replay model streams (:meth:`ReplayModel.stream`): the reply arrives a few
words at a time, ``chunk_delay`` apart, so channels show it as it is written.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from envloop.errors import ModelError
from envloop.llm.client import (
    Completion,
    ModelCancelled,
    StreamBroken,
    TextSink,
    estimate_tokens,
    messages_text,
    raise_if_cancelled,
    wait_or_cancel,
)

__all__ = ["REPLAY_PREFIX", "ReplayModel"]

REPLAY_PREFIX = "replay:"
LATENCY_ENV = "ENVLOOP_REPLAY_LATENCY"
_ITEM_KEYS = frozenset({"reply", "delay", "tokens_in", "tokens_out", "cost", "comment", "chunk_delay", "broken"})
_WORDS_PER_PIECE = 3
_QUERY = re.compile(r"^\w+=[^&]*(?:&\w+=[^&]*)*$")


@dataclass(frozen=True)
class _Reply:
    text: str
    delay: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float = 0.0
    chunk_delay: float | None = None
    broken: str | None = None


class ReplayModel:
    """Answers from a JSON list of replies, in order; see the module docstring for the format."""

    def __init__(self, spec: str) -> None:
        self.name = spec
        raw_path, query = _split_spec(spec)
        if not raw_path:
            raise ModelError(f"replay model {spec!r} names no file: use replay:PATH")
        self.path = Path(raw_path).expanduser()
        self.latency, self.chunk_delay = _latency(query, spec)
        self._replies = _load(self.path)
        self._used = 0
        self._lock = threading.Lock()  # one instance may serve several threads (llm_query, benchmarks)

    @property
    def remaining(self) -> int:
        """How many replies are left."""
        return len(self._replies) - self._used

    def complete(
        self, messages: list[dict[str, str]], *, cancel: threading.Event | None = None
    ) -> Completion:
        """The next reply, after its delay; ModelError when the file has no more (or the item is ``broken``)."""
        started = time.perf_counter()
        reply = self._next(cancel)
        if reply.broken:
            raise ModelError(reply.broken)
        return self._completion(reply, messages, started)

    def stream(
        self, messages: list[dict[str, str]], *, on_text: TextSink, cancel: threading.Event | None = None
    ) -> Completion:
        """The next reply, handed to ``on_text`` a few words at a time, ``chunk_delay`` apart."""
        started = time.perf_counter()
        reply = self._next(cancel)
        delay = self.chunk_delay if reply.chunk_delay is None else reply.chunk_delay
        sent: list[str] = []
        for piece in _pieces(reply.text):
            if sent and wait_or_cancel(delay, cancel):
                raise ModelCancelled("replay model call cancelled", "".join(sent))
            on_text(piece)
            sent.append(piece)
        if reply.broken:
            text = "".join(sent)
            raise StreamBroken(f"{reply.broken} (the reply broke off after {len(text)} characters)", text)
        return self._completion(reply, messages, started)

    def _next(self, cancel: threading.Event | None) -> _Reply:
        raise_if_cancelled(cancel, "replay model call")
        with self._lock:
            if self._used >= len(self._replies):
                raise ModelError(f"replay model {self.path} has no more replies ({self._used} used)")
            reply = self._replies[self._used]
            self._used += 1
        delay = self.latency if reply.delay is None else reply.delay
        if wait_or_cancel(delay, cancel):
            raise_if_cancelled(cancel, "replay model call")
        return reply

    def _completion(self, reply: _Reply, messages: list[dict[str, str]], started: float) -> Completion:
        tokens_in = reply.tokens_in if reply.tokens_in is not None else estimate_tokens(messages_text(messages))
        tokens_out = reply.tokens_out if reply.tokens_out is not None else estimate_tokens(reply.text)
        return Completion(
            text=reply.text,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=reply.cost,
            model=self.name,
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )

    def __repr__(self) -> str:
        return f"ReplayModel({self.name!r}, used={self._used}, remaining={self.remaining})"


def _split_spec(spec: str) -> tuple[str, str]:
    """``replay:PATH?latency=S`` -> (PATH, query). A ``?`` not followed by key=value stays in the path."""
    body = spec[len(REPLAY_PREFIX):] if spec.startswith(REPLAY_PREFIX) else spec
    path, sep, query = body.rpartition("?")
    if sep and _QUERY.match(query):
        return path.strip(), query
    return body.strip(), ""


def _seconds(value: object, where: str, what: str = "a number of seconds") -> float:
    """A finite number >= 0, or a one-line ModelError saying where the bad value came from."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModelError(f"{where} must be {what}, not {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ModelError(f"{where} must be {what}, not {value!r}")
    return number


def _latency(query: str, spec: str) -> tuple[float, float]:
    """(latency, chunk delay): the spec's ``?latency=`` (else ENVLOOP_REPLAY_LATENCY, else 0) and ``chunk_delay=``."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - {"latency", "chunk_delay"})
    if unknown:
        raise ModelError(f"replay model {spec!r}: unknown option {unknown[0]!r} (latency=S, chunk_delay=S)")
    chunk = _seconds(params["chunk_delay"], f"chunk_delay in {spec!r}") if "chunk_delay" in params else 0.0
    if "latency" in params:
        return _seconds(params["latency"], f"latency in {spec!r}"), chunk
    env = os.environ.get(LATENCY_ENV, "").strip()
    return (_seconds(env, LATENCY_ENV) if env else 0.0), chunk


def _pieces(text: str) -> list[str]:
    """``text`` in pieces of a few words (whitespace kept), the way a model's stream arrives."""
    words = re.findall(r"\s*\S+\s*|\s+", text)
    return ["".join(words[i:i + _WORDS_PER_PIECE]) for i in range(0, len(words), _WORDS_PER_PIECE)]


def _load(path: Path) -> list[_Reply]:
    """Read and validate the whole file up front, so a bad file fails before a turn starts."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"replay file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ModelError(f"replay file {path} cannot be read: {reason}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"replay file {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, list):
        raise ModelError(f"replay file {path} must hold a JSON list of replies, not a {type(data).__name__}")
    return [_item(path, index, item) for index, item in enumerate(data)]


def _item(path: Path, index: int, item: object) -> _Reply:
    """One list item: a string, or an object with ``reply`` and optional settings."""
    where = f"replay file {path} item {index}"
    if isinstance(item, str):
        return _Reply(item)
    if not isinstance(item, dict):
        raise ModelError(f"{where} must be a string or an object with \"reply\", not {type(item).__name__}")
    unknown = sorted(set(item) - _ITEM_KEYS)
    if unknown:
        raise ModelError(f"{where} has unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_ITEM_KEYS))})")
    if not isinstance(item.get("reply"), str):
        raise ModelError(f"{where} needs \"reply\" as a string")
    delay = _seconds(item["delay"], f"{where} \"delay\"") if "delay" in item else None
    chunk_delay = _seconds(item["chunk_delay"], f"{where} \"chunk_delay\"") if "chunk_delay" in item else None
    broken = item.get("broken")
    if broken is not None and (not isinstance(broken, str) or not broken.strip()):
        raise ModelError(f"{where} \"broken\" must be an error message (a non-empty string)")
    cost = _seconds(item["cost"], f"{where} \"cost\"", "a number >= 0") if "cost" in item else 0.0
    counts = []
    for key in ("tokens_in", "tokens_out"):
        value = item.get(key)
        if value is not None and (type(value) is not int or value < 0):
            raise ModelError(f"{where} \"{key}\" must be a whole number >= 0, not {value!r}")
        counts.append(value)
    return _Reply(item["reply"], delay, counts[0], counts[1], cost, chunk_delay, broken)
