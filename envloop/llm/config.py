"""Which model to use, and the client for it.

The model is chosen, first match wins, by ``--model``, then ``$ENVLOOP_MODEL``,
then ``model`` in the config file ``$XDG_CONFIG_HOME/envloop/config.toml``
(``~/.config/envloop/config.toml`` when XDG_CONFIG_HOME is unset), e.g.::

    # ~/.config/envloop/config.toml
    model = "anthropic/claude-3-5-sonnet-latest"

API keys never go in that file: providers read them from their own
environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path

from envloop.errors import ModelError, ModelNotConfigured
from envloop.llm.client import ModelClient
from envloop.llm.litellm_client import LiteLLMModel
from envloop.llm.replay import REPLAY_PREFIX, ReplayModel

__all__ = ["MODEL_ENV", "config_path", "get_model", "not_configured_message", "resolve_model_name"]

MODEL_ENV = "ENVLOOP_MODEL"

#: Model names that start with one of these are served by envloop itself, not litellm.
_SCHEMES: dict[str, Callable[[str], ModelClient]] = {REPLAY_PREFIX: ReplayModel}


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/envloop/config.toml``, else ``~/.config/envloop/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "envloop" / "config.toml"


def _config_model() -> str | None:
    """The config file's ``model``; None when there is no file or no such key."""
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
    value = data.get("model")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(f"config file {path}: model must be a string such as \"gpt-4o-mini\"")
    return value.strip() or None


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
    return LiteLLMModel(resolved)
