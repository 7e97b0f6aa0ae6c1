"""Turn whatever a provider call raised into one clear line, with no secret in it.

litellm normalises provider failures into its own exception classes (which
subclass openai's). They are matched here by class *name* along the MRO, most
specific first, so this module never imports litellm and a
ContextWindowExceededError (a BadRequestError) gets its own message.
Messages never quote an authentication error's text (providers echo part of
the key) and every quoted detail is scrubbed of anything that looks like a key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Failure", "classify", "scrub"]

_DETAIL_CHARS = 200
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SECRET_SHAPES = re.compile(
    r"(?:sk|pk|rk|gsk|xai|hf|r8|key)[-_][A-Za-z0-9_\-*]{8,}"  # provider key shapes (sk-..., gsk_..., hf_...)
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|(?i:bearer)\s+[A-Za-z0-9._\-*]{8,}"
    r"|(?i:(?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
)
_PREFIX = re.compile(r"^(?:litellm\.\w+:\s*|\w*(?:Error|Exception)\s*[:\-]\s*)+")
_AUTH_HINT = re.compile(r"missing credentials|api[ _-]?key|unauthori[sz]ed|invalid[ _-]x-api-key", re.IGNORECASE)
_UNKNOWN_PROVIDER = re.compile(r"LLM Provider NOT provided", re.IGNORECASE)

#: The key each common provider reads, for when litellm cannot say which one is missing.
_PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cohere": "COHERE_API_KEY",
    "cohere_chat": "COHERE_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "xai": "XAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
    "azure": "AZURE_API_KEY",
    "huggingface": "HF_TOKEN",
}


@dataclass(frozen=True)
class Failure:
    """A classified provider failure: the user's message and whether trying again can help."""

    kind: str
    message: str
    retryable: bool = False


_FRAGMENT = 8  # the shortest piece of a secret that is masked wherever it appears


def mask_fragments(text: str, secrets: list[str]) -> str:
    """``text`` with every run covered by an 8+-character piece of a secret replaced by ``***``.

    Providers quote keys partially (``Incorrect API key provided: canary-XY****``):
    matching the whole value, or only ``sk-``-shaped strings, let those pieces through.
    """
    covered = bytearray(len(text))
    for secret in secrets:
        for start in range(len(secret) - _FRAGMENT + 1):
            piece = secret[start:start + _FRAGMENT]
            at = text.find(piece)
            while at != -1:
                covered[at:at + _FRAGMENT] = b"\x01" * _FRAGMENT
                at = text.find(piece, at + 1)
    if not any(covered):
        return text
    out, i = [], 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def scrub(text: str) -> str:
    """One line, at most ~200 characters, with secrets (env values and key-shaped strings) masked."""
    secrets = [value for name, value in os.environ.items() if len(value) >= _FRAGMENT and _SECRET_ENV.search(name)]
    text = mask_fragments(text, secrets)
    text = _SECRET_SHAPES.sub("***", text)
    text = " ".join(text.split())
    text = _PREFIX.sub("", text).strip()
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _detail(exc: BaseException) -> str:
    raw = getattr(exc, "message", None)
    return scrub(raw if isinstance(raw, str) and raw else str(exc)) or type(exc).__name__


def _provider(exc: BaseException) -> str:
    provider = getattr(exc, "llm_provider", None)
    return provider if isinstance(provider, str) else ""


def _auth(exc: BaseException, model: str, missing_keys: Callable[[str], list[str]]) -> Failure:
    """Name the env var that is probably missing or wrong; never quote the provider's text."""
    missing = [k for k in missing_keys(model) if _SECRET_ENV.search(k)]
    var = _PROVIDER_KEYS.get(_provider(exc) or model.split("/", 1)[0])
    if "PermissionDeniedError" in (cls.__name__ for cls in type(exc).__mro__) and not missing:
        whose = f"the key in {var}" if var else "your API key"
        return Failure("auth", f"access denied to model {model}: {whose} may not be allowed to use it")
    if missing:
        hint = f"{' or '.join(missing)} is not set"
    else:
        hint = f"check {var} (the provider rejected it)" if var else "check the provider's API key variable"
    return Failure("auth", f"authentication failed for model {model}: {hint}")


def _rate_limit(exc: BaseException, model: str) -> Failure:
    return Failure("rate_limit", f"model {model} is rate-limited by its provider ({_detail(exc)})", True)


def _timeout(exc: BaseException, model: str) -> Failure:
    return Failure("timeout", f"model {model} did not answer in time", True)


def _unavailable(exc: BaseException, model: str) -> Failure:
    return Failure("unavailable", f"model {model}'s provider is overloaded or unavailable ({_detail(exc)})", True)


def _context(exc: BaseException, model: str) -> Failure:
    return Failure(
        "context_window",
        f"the prompt is too long for model {model}'s context window: "
        "use a model with a larger context, or start a new conversation",
    )


def _not_found(exc: BaseException, model: str) -> Failure:
    return Failure("not_found", f"model {model} was not found by its provider: check the name ({_detail(exc)})")


def _connection(exc: BaseException, model: str) -> Failure:
    where = "is Ollama running (ollama serve)?" if model.startswith("ollama") else "check the network and api base"
    return Failure("connection", f"could not reach the provider of model {model}: {where} ({_detail(exc)})")


def _bad_request(exc: BaseException, model: str) -> Failure:
    if _UNKNOWN_PROVIDER.search(str(exc)):
        return Failure(
            "unknown_model",
            f"unknown model {model}: litellm cannot tell its provider; name it like gpt-4o-mini, "
            "anthropic/claude-3-5-sonnet-latest or ollama/llama3.1",
        )
    return Failure("bad_request", f"the provider rejected the request to model {model}: {_detail(exc)}")


def _content_policy(exc: BaseException, model: str) -> Failure:
    detail = _detail(exc)
    return Failure("content_policy", f"model {model} refused the request under its content policy ({detail})")


def _server(exc: BaseException, model: str) -> Failure:
    return Failure("server", f"model {model}'s provider failed ({_detail(exc)})")


_BY_CLASS_NAME: dict[str, Callable[[BaseException, str], Failure]] = {
    "RateLimitError": _rate_limit,
    "Timeout": _timeout,
    "APITimeoutError": _timeout,
    "TimeoutException": _timeout,  # httpx
    "TimeoutError": _timeout,
    "ServiceUnavailableError": _unavailable,
    "ContextWindowExceededError": _context,
    "NotFoundError": _not_found,
    "LiteLLMUnknownProvider": _bad_request,
    "APIConnectionError": _connection,
    "ConnectError": _connection,  # httpx
    "ConnectionError": _connection,
    "ContentPolicyViolationError": _content_policy,
    "BadRequestError": _bad_request,
    "UnprocessableEntityError": _bad_request,
    "InternalServerError": _server,
    "BadGatewayError": _server,
    "APIError": _server,
}


def classify(exc: BaseException, model: str, missing_keys: Callable[[str], list[str]]) -> Failure:
    """The most specific known class in ``exc``'s MRO decides; auth-looking text wins over a 500.

    ``missing_keys(model)`` lists the env vars the provider needs but that are
    unset (litellm.validate_environment); it is only called for auth failures.
    """
    names = [cls.__name__ for cls in type(exc).__mro__]
    if "AuthenticationError" in names or "PermissionDeniedError" in names:
        return _auth(exc, model, missing_keys)
    text = str(exc)
    for name in names:
        handler = _BY_CLASS_NAME.get(name)
        if handler is None:
            continue
        looks_like_auth = _AUTH_HINT.search(text) and not _UNKNOWN_PROVIDER.search(text)
        if handler in (_server, _bad_request) and looks_like_auth:
            return _auth(exc, model, missing_keys)  # OpenAI without a key surfaces as a 500
        return handler(exc, model)
    return Failure("other", f"calling model {model} failed: {type(exc).__name__}: {_detail(exc)}")
