"""Any model litellm reaches (hosted providers, local Ollama), behind the ModelClient interface.

litellm is imported inside :meth:`LiteLLMModel.complete`, never at module
import: it costs seconds, and commands that never call a model (history,
vars, replay tests) should not pay for it. Before the import we set
``LITELLM_LOCAL_MODEL_COST_MAP=True`` (otherwise importing it fetches the price
table over the network) and default ``LITELLM_LOG`` to ERROR; after it we turn
off its debug output and message logging. API keys stay in the environment,
where litellm reads them; this module never reads, stores or prints one, and
its errors do not chain the provider's exception (whose text may quote a key).

Rate limits, timeouts and "overloaded" answers are retried with exponential
backoff (``backoff * 2**n`` seconds, capped, ``Retry-After`` honoured within
the cap); every other failure is one try. litellm's own retries are off
(``num_retries=0``) so this is the only retry loop, and it honours ``cancel``.

:meth:`LiteLLMModel.stream` asks with ``stream=True`` and hands the text on as
it arrives; the usage comes from the final chunk (``include_usage``), else it
is estimated.  A stream is retried only while nothing has arrived: once text
is on someone's screen, a failure is a :class:`StreamBroken` carrying it.
``api_base`` (or ``$ENVLOOP_API_BASE``) points any OpenAI-compatible name
(``openai/<model>``) at a local server: llama.cpp, vLLM, LM Studio.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from envloop.errors import ModelError
from envloop.llm.client import (
    Completion,
    ModelCancelled,
    StreamBroken,
    TextSink,
    call_cancellable,
    estimate_tokens,
    messages_text,
    raise_if_cancelled,
    wait_or_cancel,
)
from envloop.llm.provider_errors import Failure, classify
from envloop.llm.streaming import StreamFailed, StreamStalled, pump

__all__ = ["LiteLLMModel", "load_litellm"]

#: Seconds one provider call may take before litellm gives up on it.
DEFAULT_TIMEOUT = 120.0
#: Tries in all for a retryable failure (so three retries).
DEFAULT_ATTEMPTS = 4
#: First backoff wait, doubled after each failed try, never more than the cap.
DEFAULT_BACKOFF = 1.0
DEFAULT_BACKOFF_CAP = 16.0

_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")
_import_lock = threading.Lock()


def load_litellm() -> ModuleType:
    """Import litellm quietly and offline-safe; cheap after the first call."""
    with _import_lock:
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # must precede the import
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
        litellm.set_verbose = False  # type: ignore[attr-defined]
        litellm.turn_off_message_logging = True  # callbacks never see prompt or reply text
        litellm.telemetry = False  # gone from recent versions; harmless where absent
        for name in _LITELLM_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        return litellm


def _load() -> ModuleType:
    try:
        return load_litellm()
    except ImportError as exc:  # a broken install should read as a model problem, not a crash
        raise ModelError(f"litellm cannot be imported ({exc}): reinstall envloop from its lock file") from None


def _delta_text(chunk: Any) -> str | None:
    """The new text in one streamed chunk (None for chunks that carry only usage or a finish reason)."""
    try:
        content = chunk.choices[0].delta.content
    except (AttributeError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _broke_off(partial: str) -> str:
    return f" (the reply broke off after {len(partial)} characters)" if partial else ""


def _missing_keys(model: str) -> list[str]:
    """The env vars litellm says this model needs and are unset (names only, never values)."""
    try:
        found = load_litellm().validate_environment(model=model)
        return [str(k) for k in found.get("missing_keys") or []]
    except Exception:  # only a hint for an error message
        return []


def _retry_after(exc: BaseException | None) -> float | None:
    """The provider's Retry-After header in seconds, when it sent a plain number."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        value = float(headers.get("retry-after")) if headers is not None else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and value >= 0 else None


class LiteLLMModel:
    """A model named the litellm way: ``gpt-4o-mini``, ``anthropic/claude-3-5-sonnet-latest``, ``ollama/llama3.1``.

    ``wait(seconds, cancel) -> cancelled`` is how backoff sleeps; tests pass a
    recorder so they check the schedule without waiting.
    """

    def __init__(
        self,
        name: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        wait: Callable[[float, threading.Event | None], bool] = wait_or_cancel,
        api_base: str | None = None,
    ) -> None:
        if not name.strip():
            raise ModelError("the model name is empty")
        self.name = name.strip()
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self._wait = wait
        self.api_base = api_base.strip() if api_base and api_base.strip() else None

    def __repr__(self) -> str:
        return f"LiteLLMModel({self.name!r})"

    def complete(
        self, messages: list[dict[str, str]], *, cancel: threading.Event | None = None
    ) -> Completion:
        """Ask the model; ModelError (one line) on failure, ModelCancelled if ``cancel`` is set meanwhile."""
        started = time.perf_counter()
        raise_if_cancelled(cancel, f"call to {self.name}")
        litellm = _load()
        response = self._call_with_retries(litellm, [dict(m) for m in messages], cancel)
        return self._completion(litellm, response, messages, started)

    def _kwargs(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.name, "messages": messages, "timeout": self.timeout,
                                  "num_retries": 0}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        return kwargs

    def stream(self, messages: list[dict[str, str]], *, on_text: TextSink,
               cancel: threading.Event | None = None) -> Completion:
        """Ask with ``stream=True``, giving ``on_text`` each piece as it comes; see the module docstring."""
        started = time.perf_counter()
        what = f"call to {self.name}"
        raise_if_cancelled(cancel, what)
        litellm = _load()
        kwargs = self._kwargs([dict(m) for m in messages])
        kwargs.update(stream=True, stream_options={"include_usage": True})
        for attempt in range(1, self.attempts + 1):
            raise_if_cancelled(cancel, what)
            try:
                chunks, text = pump(lambda: litellm.completion(**kwargs), _delta_text, on_text,
                                    cancel=cancel, idle=self.timeout + 1, what=what)
                return self._streamed(litellm, chunks, text, messages, started)
            except StreamStalled as exc:
                if exc.partial or attempt == self.attempts:
                    raise StreamBroken(f"model {self.name} stopped sending: nothing for {self.timeout:g} s"
                                       + _broke_off(exc.partial), exc.partial) from None
                delay = self._delay(attempt, None)
            except StreamFailed as exc:
                failure = classify(exc.cause, self.name, _missing_keys)
                if exc.partial:
                    raise StreamBroken(failure.message + _broke_off(exc.partial), exc.partial) from None
                if not failure.retryable or attempt == self.attempts:
                    raise self._error(failure, attempt) from None
                delay = self._delay(attempt, exc.cause)
            if self._wait(delay, cancel):
                raise ModelCancelled(f"{what} cancelled") from None
        raise AssertionError("unreachable: the loop returns or raises")

    def _streamed(self, litellm: ModuleType, chunks: list[Any], text: str, messages: list[dict[str, str]],
                  started: float) -> Completion:
        """Usage from the final chunk (estimated when the provider sent none) and its price where known."""
        usage = next((c.usage for c in reversed(chunks) if getattr(c, "usage", None) is not None), None)
        tokens_in, tokens_out = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
        tokens_in = tokens_in if isinstance(tokens_in, int) else estimate_tokens(messages_text(messages))
        tokens_out = tokens_out if isinstance(tokens_out, int) else estimate_tokens(text)
        reported = next((c.model for c in reversed(chunks) if isinstance(getattr(c, "model", None), str)), "")
        cost: float | None = None
        for candidate in dict.fromkeys([self.name, reported]):
            try:
                prompt_cost, reply_cost = litellm.cost_per_token(model=candidate, prompt_tokens=tokens_in,
                                                                 completion_tokens=tokens_out)
                cost = float(prompt_cost) + float(reply_cost)
                break
            except Exception:  # litellm does not know this model's price
                continue
        return Completion(text=text, tokens_in=tokens_in, tokens_out=tokens_out, cost=cost,
                          model=reported or self.name, duration_ms=(time.perf_counter() - started) * 1000.0)

    def _call_with_retries(self, litellm: ModuleType, messages: list[dict[str, str]],
                           cancel: threading.Event | None) -> Any:
        def call() -> Any:
            return litellm.completion(**self._kwargs(messages))

        for attempt in range(1, self.attempts + 1):
            raise_if_cancelled(cancel, f"call to {self.name}")
            try:
                return call_cancellable(call, cancel, f"call to {self.name}")
            except ModelCancelled:
                raise
            except Exception as exc:
                failure = classify(exc, self.name, _missing_keys)
                if not failure.retryable or attempt == self.attempts:
                    raise self._error(failure, attempt) from None  # the original may quote a key
                if self._wait(self._delay(attempt, exc), cancel):
                    raise ModelCancelled(f"call to {self.name} cancelled") from None
        raise AssertionError("unreachable: the loop returns or raises")

    def _delay(self, attempt: int, exc: BaseException | None) -> float:
        """Exponential backoff, raised to the provider's Retry-After, never beyond the cap."""
        delay = self.backoff * 2 ** (attempt - 1)
        hinted = _retry_after(exc)
        if hinted is not None:
            delay = max(delay, hinted)
        return float(min(delay, self.backoff_cap))

    def _error(self, failure: Failure, attempt: int) -> ModelError:
        message = failure.message
        if failure.kind == "timeout":
            message += f" ({self.timeout:g} s per try)"
        if failure.retryable and attempt > 1:
            message += f"; gave up after {attempt} tries"
        return ModelError(message)

    def _completion(self, litellm: ModuleType, response: Any, messages: list[dict[str, str]],
                    started: float) -> Completion:
        """Text, usage and cost from a litellm ModelResponse; estimates where the provider sent none."""
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise ModelError(f"model {self.name} sent a reply with no message in it") from None
        text = content if isinstance(content, str) else ("" if content is None else str(content))
        usage = getattr(response, "usage", None)
        tokens_in = getattr(usage, "prompt_tokens", None)
        tokens_out = getattr(usage, "completion_tokens", None)
        try:
            cost = litellm.completion_cost(completion_response=response)
            cost = float(cost) if cost is not None else None
        except Exception:  # litellm does not know this model's price
            cost = None
        reported = getattr(response, "model", None)
        return Completion(
            text=text,
            tokens_in=tokens_in if isinstance(tokens_in, int) else estimate_tokens(messages_text(messages)),
            tokens_out=tokens_out if isinstance(tokens_out, int) else estimate_tokens(text),
            cost=cost,
            model=reported if isinstance(reported, str) and reported else self.name,
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )
