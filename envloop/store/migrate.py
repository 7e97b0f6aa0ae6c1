"""Alembic, driven from code: the CLI's ``db upgrade``/``db current`` and upgrade-on-open.

The migration scripts ship inside the package (``envloop.migrations``), so the
configuration is built here rather than read from an alembic.ini next to the
working directory.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["alembic_config", "head_revision", "upgrade", "downgrade"]


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic Config for envloop's migrations, bound to ``engine`` when given."""
    config = Config()
    config.set_main_option("script_location", "envloop.migrations:")
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest revision among the shipped migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "envloop ships at least one migration"
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)
