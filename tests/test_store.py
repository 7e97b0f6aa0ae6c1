"""The database: migrations match the models, connections are set up, errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from envloop.errors import StoreError
from envloop.store.db import HEAD_REVISION, default_db_path, open_database, resolve_url
from envloop.store.migrate import downgrade, head_revision, upgrade
from envloop.store.models import Base, Block, Conversation, DefinitionVersion


def _diff(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


def test_upgraded_empty_database_matches_the_models(db_url: str) -> None:
    db = open_database(db_url)
    assert db.current_revision() == HEAD_REVISION
    assert _diff(db.engine) == []


def test_head_constant_matches_the_migration_scripts() -> None:
    assert head_revision() == HEAD_REVISION


def test_downgrade_to_base_then_upgrade_again(db_url: str) -> None:
    db = open_database(db_url)
    downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(db.engine, "head")
    assert db.current_revision() == HEAD_REVISION
    assert _diff(db.engine) == []


def test_every_connection_has_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = open_database(str(tmp_path / "c.db"))
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_foreign_keys_and_version_uniqueness_are_enforced(db_url: str) -> None:
    db = open_database(db_url)
    with pytest.raises(StoreError), db.session(write=True) as s:
        s.add(Block(conversation_id=999, author="user", source="x = 1"))
    with db.session(write=True) as s:
        conv = Conversation(title="t")
        s.add(conv)
        s.flush()
        s.add(DefinitionVersion(conversation_id=conv.id, name="x", version=1, kind="value"))
    with pytest.raises(StoreError, match="(?i)unique"), db.session(write=True) as s:
        s.add(DefinitionVersion(conversation_id=conv.id, name="x", version=1, kind="value"))


def test_location_defaults_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVLOOP_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "envloop" / "envloop.db"
    assert resolve_url(None) == f"sqlite:///{tmp_path}/xdg/envloop/envloop.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path() == Path.home() / ".local" / "share" / "envloop" / "envloop.db"
    monkeypatch.setenv("ENVLOOP_DB", str(tmp_path / "env.db"))
    assert resolve_url(None) == f"sqlite:///{tmp_path}/env.db"
    assert resolve_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert resolve_url(str(tmp_path / "flag.db")) == f"sqlite:///{tmp_path}/flag.db"


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"this is not sqlite at all" * 100, "file is not a database"), (b"SQLite format 3\x00" + b"\xff" * 200, "")],
)
def test_corrupt_file_is_a_store_error_naming_the_path(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        open_database(str(path))
    message = str(info.value)
    assert str(path) in message and reason in message and "\n" not in message


def test_read_only_database_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    open_database(str(path)).dispose()
    with pytest.raises(StoreError, match="readonly"):
        open_database(f"sqlite:///file:{path}?mode=ro&uri=true")


def test_directory_given_as_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        open_database(str(tmp_path))


def test_nothing_sqlite_specific_is_needed_to_build_the_schema_elsewhere() -> None:
    # The schema compiles for PostgreSQL: the models use only portable types and constraints.
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    for table in Base.metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=postgresql.dialect()))
    create_engine("sqlite://")  # and SQLite, of course
