"""Alembic environment: runs migrations on the engine envloop hands over.

envloop builds the Alembic Config in code (envloop.store.migrate), so this file
reads the engine from ``config.attributes`` and never from an ini file.
"""

from __future__ import annotations

from alembic import context

from envloop.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        raise RuntimeError("envloop migrations run through envloop.store.migrate, with an engine")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise RuntimeError("envloop does not generate offline SQL scripts")
run_migrations_online()
