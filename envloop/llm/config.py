"""Which model to use, and the client for it.

The model is chosen, first match wins, by ``--model``, then ``$ENVLOOP_MODEL``,
then ``model`` in the config file ``$XDG_CONFIG_HOME/envloop/config.toml``
(``~/.config/envloop/config.toml`` when XDG_CONFIG_HOME is unset), e.g.::

    # ~/.config/envloop/config.toml
    model = "anthropic/claude-3-5-sonnet-latest"

API keys never go in that file: providers read them from their own
environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...).

Two more settings, each from its variable, else the config file:
``$ENVLOOP_API_BASE`` / ``api_base`` (the URL of an OpenAI-compatible server
for ``openai/<model>`` names: llama.cpp, vLLM, LM Studio) and
``$ENVLOOP_MODEL_TIMEOUT`` / ``timeout`` (seconds one model call, or a silent
stream, may take; default 120).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envloop.errors import ModelError, ModelNotConfigured
from envloop.llm.client import ModelClient
from envloop.llm.litellm_client import LiteLLMModel
from envloop.llm.replay import REPLAY_PREFIX, ReplayModel

__all__ = ["MODEL_ENV", "config_path", "get_model", "not_configured_message", "resolve_model_name"]

MODEL_ENV = "ENVLOOP_MODEL"
API_BASE_ENV = "ENVLOOP_API_BASE"
TIMEOUT_ENV = "ENVLOOP_MODEL_TIMEOUT"

#: Model names that start with one of these are served by envloop itself, not litellm.
_SCHEMES: dict[str, Callable[[str], ModelClient]] = {REPLAY_PREFIX: ReplayModel}


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/envloop/config.toml``, else ``~/.config/envloop/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "envloop" / "config.toml"


def _config_value(key: str) -> object:
    """The config file's ``key``; None when there is no file or no such key."""
    path = config_path()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ModelError(f"config file {path} cannot be read: {exc.strerror or type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"config file {path} is not valid TOML: {exc}") from None
    return data.get(key)


def _config_model() -> str | None:
    """The config file's ``model``; None when there is no file or no such key."""
    value = _config_value("model")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(f"config file {config_path()}: model must be a string such as \"gpt-4o-mini\"")
    return value.strip() or None


def _setting(env: str, key: str) -> str | None:
    """``$env``, else the config file's ``key`` (as text); blank counts as unset."""
    value: object = os.environ.get(env, "").strip() or _config_value(key)
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        if value is not None:
            raise ModelError(f"config file {config_path()}: {key} must be a string or a number")
        return None
    return str(value).strip() or None


def _litellm_options() -> dict[str, Any]:
    """api_base and timeout for a litellm model, from the environment or the config file."""
    options: dict[str, Any] = {}
    base = _setting(API_BASE_ENV, "api_base")
    if base:
        if not base.startswith(("http://", "https://")):
            raise ModelError(f"the API base must be an http:// or https:// URL, not {base!r}")
        options["api_base"] = base
    timeout = _setting(TIMEOUT_ENV, "timeout")
    if timeout is not None:
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds < 86_400:
            raise ModelError(f"the model timeout must be a number of seconds above 0, not {timeout!r}")
        options["timeout"] = seconds
    return options


def resolve_model_name(explicit: str | None = None) -> str | None:
    """--model value, else ENVLOOP_MODEL, else the config file's ``model``, else None (blank counts as unset)."""
    for candidate in (explicit, os.environ.get(MODEL_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    return _config_model()


def not_configured_message() -> str:
    """One line that says exactly how to configure a model."""
    return (
        f"no model configured: set {MODEL_ENV} (for example {MODEL_ENV}=gpt-4o-mini with OPENAI_API_KEY, "
        f"{MODEL_ENV}=anthropic/claude-3-5-sonnet-latest with ANTHROPIC_API_KEY, or "
        f"{MODEL_ENV}=ollama/llama3.1 for a local Ollama model), or pass --model, "
        f"or put model = \"gpt-4o-mini\" in {config_path()}"
    )


def get_model(name: str | None = None) -> ModelClient:
    """The client for ``name`` (resolved as above): ``replay:PATH`` is a ReplayModel, anything else litellm's.

    Raises ModelNotConfigured when no model is set anywhere, and ModelError for a
    bad replay file or config file. Cheap: litellm is not imported until the first call.
    """
    resolved = resolve_model_name(name)
    if resolved is None:
        raise ModelNotConfigured(not_configured_message())
    for prefix, factory in _SCHEMES.items():
        if resolved.startswith(prefix):
            return factory(resolved)
    return LiteLLMModel(resolved, **_litellm_options())
