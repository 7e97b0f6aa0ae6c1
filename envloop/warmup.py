"""Compiling the statements of a block's store ahead of time, while the host waits for its worker anyway.

SQLAlchemy compiles a statement the first time an engine runs it and keeps the
result in that engine's compiled cache; every new :class:`~envloop.store.db.Database`
(every ``envloop run`` process, every database a long-lived process opens) pays
those compilations again, on the first block that stores a value: a few
milliseconds on a path that otherwise costs about three.  The prebuilt
statements below are the ones a direct run executes (its block row, versions,
read sets, blobs, the lock, the turn row), and :func:`warm` compiles them into
the engine's cache while the sandbox worker runs a block
(``Sandbox(while_waiting=…)``): the host is idle then, the worker on another core.

Nothing here touches the database: compiling needs the dialect, not a
connection, so no lock is taken and nothing is written, on SQLite as on
PostgreSQL.  The cache key mirrors what ``Connection.execute`` builds (the
statement, the sorted parameter names, single or executemany);
``tests/test_warmup.py`` checks that a warmed block compiles nothing, so a
parameter set that drifts from its call site, or a SQLAlchemy whose cache key
changed, fails a test instead of silently warming nothing.  A failure to warm
is never an error: the statement is then compiled when it runs, as before.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql import compiler

__all__ = ["statements", "warm"]

logger = logging.getLogger("envloop.warmup")

#: (statement, its parameter names, executemany): what a block's store runs, in the order it runs it.
Spec = tuple[Any, tuple[str, ...], bool]

_done: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()  # statements warmed, per engine
_mutex = threading.Lock()
_specs: dict[str, list[Spec]] = {}


def statements(dialect_name: str) -> list[Spec]:
    """The statements a direct run's block executes, after its result first, with their parameter names."""
    specs = _specs.get(dialect_name)
    if specs is not None:
        return specs
    # Imported here: the modules that run these statements import the store, not the other way round.
    # The statements are those modules' own prebuilt ones (private to them; this is their one reader).
    from envloop import conversation, environment, provenance, records, timeline
    from envloop.store import locks, usage, versions
    from envloop.store import provenance as read_sets
    from envloop.store.db import insert_missing_statement
    from envloop.store.models import Blob

    blobs = insert_missing_statement(dialect_name, Blob, "sha256")
    block_keys = ("conversation_id", "query_id", "iteration_id", "position", "author", "source", "stdout",
                  "result_preview", "error_type", "error_message", "error_line", "limit_hit", "duration_ms")
    version_keys = ("conversation_id", "name", "version", "kind", "source", "encoding", "value_sha256",
                    "content_sha256", "lost_reason", "preview", "type_name", "size", "block_id",
                    "rolled_back_from_id", "read_set_id")
    item_keys = ("read_set_id", "read_definition_version_id", "read_artifact_version_id")
    specs = [
        # after the worker's result, in the block's transaction (envloop.environment._store_block)
        (environment._INSERT_BLOCK, block_keys, False),
        (versions._NEWEST_NUMBERS, ("conversation", "names"), False),
        (usage.REPLACED_BYTES, ("ids",), False),
        (blobs, ("sha256", "size", "data"), False),  # a streamed value's chunks, one at a time
        (versions.BLOBS_PRESENT, ("digests",), False),
        (blobs, ("sha256", "size", "data"), True),  # a block's envelopes and small values
        (read_sets.INSERT_READ_SET, ("conversation_id",), False),
        (read_sets.INSERT_READ_SET_ITEMS, item_keys, False),
        (read_sets.INSERT_READ_SET_ITEMS, item_keys, True),
        (versions._INSERT_VERSIONS, version_keys, False),
        (versions._INSERT_VERSIONS, version_keys, True),
        (provenance.SET_READ_SET, ("vid", "rs"), False),
        (provenance.SET_READ_SET, ("vid", "rs"), True),
        (locks._CONFIRM, ("cid", "owner", "now"), False),
        (conversation._FINISH_RUN, ("qid", "finished", "status", "error", "answer", "duration"), False),
        (locks._RELEASE, ("cid", "owner"), False),
        # before the next block's worker starts (run_code, the lock, the turn row, the catch-up check)
        (records._EXISTS, ("cid",), False),
        (locks._TAKE_FREE, ("cid", "now", "new_owner", "expires"), False),
        (timeline._LAST_POSITION, ("conversation",), False),
        (timeline._INSERT_QUERY, ("conversation_id", "position", "kind", "text", "status"), False),
        (versions._NEWEST_ID, ("conversation",), False),
        (usage._VALUE_BYTES, ("conversation",), False),
        (locks._RENEW, ("cid", "owner", "expires"), False),
    ]
    _specs[dialect_name] = specs
    return specs


def warm(engine: Engine, stop: Callable[[], bool] = lambda: False) -> bool:
    """Compile the statements :func:`statements` lists into ``engine``'s cache, until ``stop()`` says so.

    Each call goes on where the last stopped; True once every statement is warm.  ``stop`` is
    asked before each statement (about a third of a millisecond each): the sandbox passes "the
    worker has answered", so warming never holds up a block's result by more than one statement.
    """
    done = _done.get(engine, 0)
    dialect = engine.dialect
    if done < 0:
        return True
    if dialect.server_version_info is None or not dialect._supports_statement_cache:
        return False  # not connected yet (compiling would use a dialect not set up for its server), or no cache
    try:
        specs = statements(dialect.name)
        cache = engine.get_execution_options().get("compiled_cache", engine._compiled_cache)
        if cache is None:  # caching is off: nothing to warm
            _done[engine] = -1
            return True
        while done < len(specs) and not stop():
            statement, keys, many = specs[done]
            # What Connection._execute_clauseelement does before it runs a statement: the same cache key.
            compiled, *_ = statement._compile_w_cache(
                dialect=dialect, compiled_cache=cache, column_keys=sorted(keys), for_executemany=many,
                schema_translate_map=None, linting=dialect.compiler_linting | compiler.WARN_LINTING)
            compiled._bind_processors  # noqa: B018 (memoized on first use: computed now, not when it runs)
            done += 1
    except Exception:  # never worth an error: the statement is compiled when it runs instead
        logger.debug("could not warm the statement cache", exc_info=True)
        done = -1
    with _mutex:
        _done[engine] = -1 if done < 0 or done >= len(specs) else max(done, _done.get(engine, 0))
    return _done[engine] < 0
