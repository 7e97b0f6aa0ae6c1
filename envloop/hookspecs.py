"""The hooks an envloop extension may implement (pluggy project name ``"envloop"``).

Built-in extensions use exactly these hooks, so anything they do a third-party
extension can do too. Mark implementations with ``envloop.extensions_api.hookimpl``;
every hook is optional. The hooks and their exact signatures:

``envloop_functions() -> list[HostFunction]``
    The functions sandbox code may call. Called once when extensions load.

``envloop_prompt() -> str | None``
    A fragment of the system prompt documenting the extension. Called once.

``envloop_nudges(state: dict[str, Any]) -> list[str] | None``
    Short hints for the model's next iteration. Called every iteration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from envloop.extensions_api import HostFunction

hookspec = pluggy.HookspecMarker("envloop")


@hookspec
def envloop_functions() -> list[HostFunction]:
    """envloop_functions() -> list[HostFunction]: the host functions this extension adds.

    Each is called from sandbox code through a stub; the host checks the
    arguments and runs ``fn(ctx, *args, **kwargs)``. Names must be unique
    across all extensions, so loading fails on a clash instead of one silently
    shadowing another.
    """
    return []


@hookspec
def envloop_prompt() -> str | None:
    """envloop_prompt() -> str | None: documentation of this extension for the system prompt.

    Called once at load, so the system prompt stays the same across iterations
    (and cacheable); no timestamps or other changing text.
    """


@hookspec
def envloop_nudges(state: dict[str, Any]) -> list[str] | None:
    """envloop_nudges(state: dict[str, Any]) -> list[str] | None: hints for the next iteration.

    ``state`` is a copy of the engine's view, e.g. ``{"iteration": 3,
    "max_iterations": 8, "errors": [...]}``. Keep nudges short and few: they are
    capped, because the per-iteration message must not grow with the turn.
    """
