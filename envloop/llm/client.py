"""The narrow interface every model sits behind, and the small helpers its implementations share.

The engine only ever sees :class:`ModelClient` and :class:`Completion`, so a
replay file, a hosted provider and a local Ollama model are interchangeable,
and nothing outside this package has to import litellm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from envloop.errors import ModelError

__all__ = [
    "Completion",
    "ModelCancelled",
    "ModelClient",
    "StreamBroken",
    "StreamingModelClient",
    "TextSink",
    "complete",
    "estimate_tokens",
]

T = TypeVar("T")

#: Receives a reply's text piece by piece as the model writes it.
TextSink = Callable[[str], None]

#: How often a cancellable wait looks at its cancel event while a provider call runs.
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Completion:
    """One model reply with what it cost, so the engine can keep budgets and footers."""

    text: str
    tokens_in: int
    tokens_out: int
    cost: float | None  # USD where known (litellm's price table); None when nobody knows
    model: str
    duration_ms: float


@runtime_checkable
class ModelClient(Protocol):
    """Anything that turns a chat transcript into a :class:`Completion`.

    ``complete`` raises :class:`~envloop.errors.ModelError` (one-line message)
    for every failure, and :class:`ModelCancelled` when ``cancel`` is set while
    it waits.
    """

    name: str

    def complete(
        self, messages: list[dict[str, str]], *, cancel: threading.Event | None = None
    ) -> Completion: ...


@runtime_checkable
class StreamingModelClient(ModelClient, Protocol):
    """A model that can also hand its reply over as it is written.

    ``stream`` calls ``on_text`` with each new piece of text (on the caller's
    thread) and returns the same :class:`Completion` ``complete`` would.  It
    raises :class:`StreamBroken` when the reply stops part-way, carrying what
    arrived, and :class:`ModelCancelled` (with the text so far) on cancel.
    """

    def stream(
        self, messages: list[dict[str, str]], *, on_text: TextSink,
        cancel: threading.Event | None = None,
    ) -> Completion: ...


class ModelCancelled(ModelError):
    """The caller set its cancel event while the model call was waiting.

    A subclass of ModelError, so code that handles model failures handles
    this too; check ``cancel.is_set()`` (or this type) to tell them apart.
    ``partial`` is the text a stream had delivered when it was stopped.
    """

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


class StreamBroken(ModelError):
    """A streamed reply stopped part-way (connection lost, provider error, silence past the timeout).

    ``partial`` is what arrived before it broke, so the turn can report it
    next to the provider's error instead of losing it.
    """

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


def complete(model: ModelClient, messages: list[dict[str, str]], *, cancel: threading.Event | None = None,
             on_text: TextSink | None = None) -> Completion:
    """Stream the reply to ``on_text`` when the model can stream and someone listens; else one call."""
    if on_text is not None and isinstance(model, StreamingModelClient):
        return model.stream(messages, on_text=on_text, cancel=cancel)
    return model.complete(messages, cancel=cancel)


def estimate_tokens(text: str) -> int:
    """About four characters a token, rounded up: good enough for budgets when nobody counted."""
    return (len(text) + 3) // 4


def messages_text(messages: Sequence[Mapping[str, object]]) -> str:
    """The concatenated content of a transcript, for estimating its size."""
    parts = (m.get("content") for m in messages)
    return "".join(part for part in parts if isinstance(part, str))


def raise_if_cancelled(cancel: threading.Event | None, what: str) -> None:
    """Stop before starting (or resuming) work the caller no longer wants."""
    if cancel is not None and cancel.is_set():
        raise ModelCancelled(f"{what} cancelled")


def wait_or_cancel(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep ``seconds``; return True early if ``cancel`` is set. Used for delays and backoff."""
    if seconds <= 0:
        return cancel is not None and cancel.is_set()
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


def call_cancellable(fn: Callable[[], T], cancel: threading.Event | None, what: str) -> T:
    """Run a blocking call, but return control to the caller as soon as ``cancel`` is set.

    Provider calls cannot be interrupted, so with a cancel event the call runs
    in a daemon thread that is abandoned on cancel (its result is discarded);
    the person gets control back at once instead of after the provider timeout.
    """
    if cancel is None:
        return fn()
    done = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"envloop-{what}", daemon=True).start()
    while not done.wait(_POLL_SECONDS):
        if cancel.is_set():
            raise ModelCancelled(f"{what} cancelled")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
