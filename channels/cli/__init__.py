"""The ``envloop`` command line: a thin channel over envloop.conversation.

Each command module registers its commands on the one click group in
``_app``; importing them here is what makes them part of the CLI.
"""

from envloop.channels.cli import env_cmds, store_cmds  # noqa: F401  (register commands)
from envloop.channels.cli._app import cli, main

__all__ = ["cli", "main"]
