"""envloop: a conversational REPL environment.

An LLM answers a person by writing Python blocks that run in a sandboxed,
versioned namespace that belongs to the conversation.
"""

from envloop._version import __version__
from envloop.errors import EnvloopError

__all__ = ["EnvloopError", "__version__"]
