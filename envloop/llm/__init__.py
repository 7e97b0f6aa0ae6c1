"""LLM access: a narrow client interface, litellm behind it, and the replay model for tests.

The engine needs four things from here: :func:`get_model` (the client for
``--model``/ENVLOOP_MODEL/the config file), :class:`ModelClient.complete
<ModelClient>` returning a :class:`Completion` (or :func:`complete`, which
streams the text to a listener when the model can), and :func:`parse_reply`.
Importing this package never imports litellm (that costs seconds); the first
real model call does.

Modules: ``client`` (the interface), ``config`` (choosing the model),
``replay`` (``replay:PATH`` files), ``litellm_client`` (providers),
``streaming`` (reading a stream: cancellable, watched for silence),
``provider_errors`` (one-line error messages), ``parsing`` (replies).
Every failure is an :class:`envloop.errors.ModelError`.
"""

from __future__ import annotations

from envloop.llm.client import (
    Completion,
    ModelCancelled,
    ModelClient,
    StreamBroken,
    StreamingModelClient,
    TextSink,
    complete,
    estimate_tokens,
)
from envloop.llm.config import config_path, get_model, not_configured_message, resolve_model_name
from envloop.llm.litellm_client import LiteLLMModel
from envloop.llm.parsing import ParsedReply, parse_reply
from envloop.llm.replay import ReplayModel

__all__ = [
    "Completion",
    "LiteLLMModel",
    "ModelCancelled",
    "ModelClient",
    "ParsedReply",
    "ReplayModel",
    "StreamBroken",
    "StreamingModelClient",
    "TextSink",
    "complete",
    "config_path",
    "estimate_tokens",
    "get_model",
    "not_configured_message",
    "parse_reply",
    "resolve_model_name",
]
