"""The ``envloop`` command line: a thin channel over envloop.conversation.

Each command module registers its commands on the one click group in
``_app``; the group imports a module only when one of its commands is used
(``_app.COMMANDS``), so ``envloop --help`` starts in a few tens of ms.
"""

from envloop.channels.cli._app import cli, main

__all__ = ["cli", "main"]
