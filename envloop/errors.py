"""The exceptions envloop raises, all under one root.

Every error a user can provoke is an :class:`EnvloopError`, so a channel can
catch that one class, print its message on one line and carry on. The tree::

    EnvloopError
    ├── StoreError            the database: unreadable, corrupt, unwritable, migration failed
    │   ├── NotFoundError     an unknown conversation, name, version or artifact
    │   └── ConversationBusyError  another process holds the conversation's lock
    ├── SandboxError          the worker process: could not start, died, broke protocol
    │   └── LimitExceeded     a block hit a limit (timeout, memory, output, crash)
    ├── ModelError            the LLM provider or the replay model, reply parsing
    │   └── ModelNotConfigured  no model is set up; the message says how to set one
    ├── BudgetError           a turn ran out of iterations, tokens or cost
    ├── ExtensionError        an extension failed to load, or a call to it was refused
    └── ChannelError          a channel's own I/O (terminal, Telegram) failed
"""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "ChannelError",
    "ConversationBusyError",
    "EnvloopError",
    "ExtensionError",
    "LimitExceeded",
    "ModelError",
    "ModelNotConfigured",
    "NotFoundError",
    "SandboxError",
    "StoreError",
]


class EnvloopError(Exception):
    """Root of every error envloop raises on purpose; its message is one line for the user."""


class StoreError(EnvloopError):
    """The database could not be opened, read, written or migrated."""


class NotFoundError(StoreError):
    """A conversation, name, version or artifact that does not exist was asked for."""


class ConversationBusyError(StoreError):
    """Another process is running a block or turn on this conversation."""


class SandboxError(EnvloopError):
    """The sandbox worker could not be started or broke the protocol."""


class LimitExceeded(SandboxError):
    """A block hit a resource limit; ``limit`` names which one."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class ModelError(EnvloopError):
    """The model provider failed, or its reply could not be used."""


class ModelNotConfigured(ModelError):
    """No model is configured; the message tells how to configure one."""


class BudgetError(EnvloopError):
    """A turn ran out of its iteration, token or cost budget."""


class ExtensionError(EnvloopError):
    """An extension failed to load, or refused a call."""


class ChannelError(EnvloopError):
    """A channel's own input or output failed."""
