"""The ``envloop`` command line: a thin channel over envloop.conversation.

Each command module registers its commands on the one click group in
``_app``; importing them here is what makes them part of the CLI.
"""

# Each import registers that module's commands.
from envloop.channels.cli import (
    chat_cmds,  # noqa: F401
    env_cmds,  # noqa: F401
    export_cmds,  # noqa: F401
    ext_cmds,  # noqa: F401
    store_cmds,  # noqa: F401
    telegram_cmds,  # noqa: F401
    turn_cmds,  # noqa: F401
)
from envloop.channels.cli._app import cli, main

__all__ = ["cli", "main"]
