"""Opening the one envloop database: where it lives, how connections are set up, upgrades.

SQLite is the embedded default, at a per-user location; any SQLAlchemy URL
(``postgresql+psycopg://…``) works too, because every query goes through
SQLAlchemy and only the connection set-up below looks at the dialect.

On PostgreSQL (psycopg 3) every pooled connection is pinged before use, so a
server restart costs the next statement a reconnect rather than an error;
TCP keepalives on both ends let the server notice a vanished client (and drop
its advisory locks) within about half a minute; and text parameters have NUL
characters replaced by U+FFFD, because PostgreSQL text cannot hold them while
a block's printed output can.

Opening a database upgrades its schema to the newest Alembic revision.  The
check is cheap (one read of ``alembic_version``); Alembic itself is imported
only when there is something to upgrade.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from envloop.errors import StoreError
from envloop.textsafe import unicode_safe

__all__ = [
    "HEAD_REVISION",
    "PG_CONNECT_ARGS",
    "Database",
    "default_db_path",
    "insert_missing",
    "open_database",
    "resolve_url",
]

#: The newest Alembic revision in migrations/versions (a test keeps them in step).
HEAD_REVISION = "0004"
BUSY_TIMEOUT_MS = 10_000
PAGE_SIZE = 16384


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/envloop/envloop.db``, else ``~/.local/share/envloop/envloop.db``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "envloop" / "envloop.db"


def resolve_url(db: str | None = None) -> str:
    """The database URL from ``--db`` (a path or URL), else ENVLOOP_DB, else the default path."""
    value = db or os.environ.get("ENVLOOP_DB") or str(default_db_path())
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser().resolve())


def _describe(url: str) -> str:
    """The path of a SQLite URL, or the URL without its password, for error messages."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Every SQLite connection: WAL, foreign keys, a busy timeout instead of instant 'locked'."""
    dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below control transactions
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        # Before WAL, so a new database gets it (an existing one keeps its own): stored values are
        # blobs of 1 MB chunks, and SQLite writes a WAL frame per page -- 16 KB pages wrote a 9 MB
        # value in 9 ms where 4 KB pages took 38 ms.
        cur.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling is off (isolation_level None); begin
    # IMMEDIATE so a writer takes the write lock up front and waits on busy_timeout
    # rather than failing half-way with "database is locked".
    # The driver's own execute: SQLAlchemy's statement machinery cost more than the BEGIN
    # (seven transactions a block, 0.15 ms each); a failure is raised as SQLAlchemy would.
    statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get("envloop_write", False) else "BEGIN"
    try:
        conn.connection.driver_connection.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc


# Client side: libpq keepalives; server side: the same per session (see _postgres_setup).
PG_CONNECT_ARGS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
_PG_SESSION = (
    "SELECT set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),"
    " set_config('tcp_keepalives_count', '3', false)"
)


def _nul_safe_dumpers() -> tuple[type[Any], type[Any]]:
    """psycopg str dumpers (text and binary) that replace NUL, which PostgreSQL text rejects."""
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    class NulSafeText(StrDumperUnknown):
        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)

    class NulSafeBinary(StrBinaryDumper):
        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)

    return NulSafeText, NulSafeBinary


def _postgres_setup(dbapi_conn: Any, _record: Any) -> None:
    """Every PostgreSQL connection: NUL-safe text parameters, server-side keepalives."""
    for dumper in _nul_safe_dumpers():
        dbapi_conn.adapters.register_dumper(str, dumper)
    cur = dbapi_conn.cursor()
    try:
        cur.execute(_PG_SESSION)
    finally:
        cur.close()
    dbapi_conn.commit()


def insert_missing(session: Session, model: Any, rows: list[dict[str, Any]], key: str) -> None:
    """Insert ``rows``, skipping any whose ``key`` is already stored (by anyone, even concurrently).

    Content-addressed rows (blobs, system prompts) are written by many
    conversations at once on PostgreSQL, where a look-then-insert races; both
    dialects support ``ON CONFLICT DO NOTHING``.
    """
    if not rows:
        return
    session.execute(insert_missing_statement(session.get_bind().dialect.name, model, key), rows)


def insert_missing_statement(dialect_name: str, model: Any, key: str) -> Any:
    """The INSERT … ON CONFLICT (key) DO NOTHING of :func:`insert_missing`, built once per table.

    On the table, not the ORM entity: executed through a session, an entity's insert takes
    the ORM's bulk-insert path, which costs more than the insert itself.
    """
    statement = _INSERTS.get((dialect_name, model, key))
    if statement is None:  # built once per table: building it cost more than a small insert
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = postgresql if dialect_name == "postgresql" else sqlite
        statement = _INSERTS[(dialect_name, model, key)] = dialect.insert(model.__table__).on_conflict_do_nothing(
            index_elements=[key])
    return statement


_INSERTS: dict[tuple[str, Any, str], Any] = {}


@dataclass
class Database:
    """An open, upgraded database: an engine plus a session factory."""

    url: str
    engine: Engine
    readers: sessionmaker[Session]
    writers: sessionmaker[Session]
    #: Per-database helpers with a ``close()`` (PostgreSQL lock connections, listeners), closed on dispose.
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def location(self) -> str:
        return _describe(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on success, rolled back on error.

        ``write=True`` takes SQLite's write lock at BEGIN, so concurrent writers
        queue on the busy timeout instead of failing mid-transaction.
        """
        if write and "read_only" in self.extras:
            self._reopen_writable()
        factory = self.writers if write else self.readers
        with guard(self.url), factory() as session, session.begin():
            yield session

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """Like :meth:`session`, but a Core connection: for a few prebuilt statements (the lock's),
        without an ORM session's set-up, flush and commit bookkeeping."""
        if write and "read_only" in self.extras:
            self._reopen_writable()
        bind = (self.writers if write else self.readers).kw["bind"]
        with guard(self.url), bind.begin() as conn:
            yield conn

    def _reopen_writable(self) -> None:
        """A database opened read-only (envloop.store.readonly) that can be written again is reopened
        for writing, so a live process recovers; while it cannot, the write fails with one line."""
        try:
            fresh = _open(self.url, upgrade=True)
        except StoreError:
            return
        old = self.engine
        self.extras.pop("read_only", None)
        self.engine, self.readers, self.writers = fresh.engine, fresh.readers, fresh.writers
        self.extras.update(fresh.extras)
        old.dispose()

    def current_revision(self) -> str | None:
        with guard(self.url), self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def upgrade(self, revision: str = "head") -> None:
        from envloop.store.migrate import upgrade

        with guard(self.url):
            upgrade(self.engine, revision)

    def dispose(self) -> None:
        for extra in list(self.extras.values()):
            extra.close()
        self.extras.clear()
        self.engine.dispose()


@contextmanager
def guard(url: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into one-line StoreErrors that name the database."""
    try:
        yield
    except StoreError:
        raise
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        raise StoreError(f"database {_describe(url)}: {_server_lost(exc.orig)}{reason}") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"database {_describe(url)}: {str(exc).splitlines()[0]}") from exc
    except OSError as exc:
        raise StoreError(f"database {_describe(url)}: {exc.strerror or exc}") from exc
    except Exception as exc:
        psycopg = sys.modules.get("psycopg")  # raw driver errors from lock and listen connections
        if psycopg is None or not isinstance(exc, psycopg.Error):
            raise
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise StoreError(f"database {_describe(url)}: {_server_lost(exc)}{reason}") from exc


def _server_lost(orig: object) -> str:
    """A plain prefix for PostgreSQL connection failures (server down, restarting, unreachable)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(orig, psycopg.OperationalError):
        return ""
    state = getattr(orig, "sqlstate", None)  # None: failed in the client; 08…: connection; 57P0x: shutdown
    if state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return "cannot reach the database server or lost the connection to it (try again): "
    return ""


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database path or URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if path.is_dir():
            raise StoreError(f"database {path}: is a directory, not a database file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"database {path}: cannot create its folder: {exc.strerror}") from exc
    postgres = parsed.get_backend_name() == "postgresql"
    options: dict[str, Any] = {"pool_pre_ping": True, "connect_args": dict(PG_CONNECT_ARGS)} if postgres else {}
    try:
        engine = create_engine(url, **options)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        hint = " (install the PostgreSQL driver: pip install 'envloop[postgres]')" if postgres else ""
        raise StoreError(f"database {_describe(url)}: {str(exc).splitlines()[0]}{hint}") from exc
    event.listen(engine, "before_cursor_execute", _unicode_safe_parameters, retval=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _postgres_setup)
    return engine


def _unicode_safe(value: Any) -> Any:
    if type(value) is str and not value.isascii():
        return unicode_safe(value)
    return value


def _values(row: Any) -> Any:
    if isinstance(row, dict):
        return row.values()
    return row if isinstance(row, (list, tuple)) else ()


def _unicode_safe_parameters(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                             executemany: bool) -> tuple[str, Any]:
    """Lone surrogates (a model's reply, a block's output) stored spelled out, never a UnicodeEncodeError.

    Text from outside can hold them (JSON's ``\\ud800``); no UTF-8 database accepts them.
    """
    rows = parameters if executemany and isinstance(parameters, (list, tuple)) else [parameters]
    if not any(type(v) is str and not v.isascii() for row in rows for v in _values(row)):
        return statement, parameters
    fixed = [
        {k: _unicode_safe(v) for k, v in row.items()} if isinstance(row, dict)
        else type(row)(map(_unicode_safe, row)) if isinstance(row, (list, tuple)) else row
        for row in rows
    ]
    return statement, fixed if rows is parameters else fixed[0]


def open_database(db: str | None = None, *, upgrade: bool = True) -> Database:
    """Open (creating if needed) the database named by ``db``/ENVLOOP_DB/the default.

    With ``upgrade`` (the default) the schema is brought to the newest revision.
    Raises StoreError, with the path in a one-line message, when the file is
    unreadable, corrupt or unwritable.
    """
    url = resolve_url(db)
    try:
        return _open(url, upgrade)
    except StoreError as exc:  # a file that cannot be written can still be read (envloop.store.readonly)
        from envloop.store.readonly import looks_read_only, open_read_only

        if make_url(url).get_backend_name() != "sqlite" or not looks_read_only(exc):
            raise
        return open_read_only(url, HEAD_REVISION, Database, exc)  # type: ignore[no-any-return]


def _open(url: str, upgrade: bool) -> Database:
    engine = _make_engine(url)
    database = Database(
        url,
        engine,
        readers=sessionmaker(engine, expire_on_commit=False),
        writers=sessionmaker(engine.execution_options(envloop_write=True), expire_on_commit=False),
    )
    try:
        if upgrade and database.current_revision() != HEAD_REVISION:
            database.upgrade()
        if upgrade and database.is_sqlite:
            _check_writable(database)
    except BaseException:
        engine.dispose()
        raise
    return database


def _check_writable(database: Database) -> None:
    """Fail at open, with a clear message, rather than after a turn's work is done."""
    with database.session(write=True) as session:
        session.execute(text("UPDATE alembic_version SET version_num = version_num"))
