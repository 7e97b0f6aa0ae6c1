"""Warming the statement cache (envloop.warmup): a warmed engine compiles nothing on a direct run's path.

The warm list names each statement with the parameter names its call site
passes; a mismatch would make warming useless without breaking anything, so
these tests look at SQLAlchemy's own cache statistics: after ``warm``, a
block's run (its turn row, the lock, its block row, versions, read sets,
blobs) must find every statement already compiled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from envloop.conversation import Envloop
from envloop.store.models import Blob, Conversation, DefinitionVersion, ReadSet, ReadSetItem
from envloop.warmup import statements, warm


def _compiled(engine: Any) -> list[str]:
    """SQL that the engine compiles from now on (cache misses), as it runs."""
    missed: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if context is not None and getattr(context, "cache_hit", None) == context.dialect.CACHE_MISS:
            missed.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    return missed


def test_a_warmed_engine_compiles_nothing_while_a_block_is_stored(db_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVLOOP_WORKSPACES", str(tmp_path / "workspaces"))
    with Envloop.open(db_url) as app:
        cid = app.create_conversation(title="warm").id
        app.environment(cid)  # started: what a conversation does once per process is not the block's cost
        assert warm(app.database.engine)
        missed = _compiled(app.database.engine)
        # new values (streamed and small), reads (read sets, statement-level ones), several names at once
        app.run_code("a = 1\nb = list(range(50000))\nc = a + 1", conversation_id=cid)
        app.run_code("a = a + 1\nb.append(a)\nd = {'k': c}", conversation_id=cid)
        app.run_code("e = 5", conversation_id=cid)
        assert missed == []
        with app.database.session() as session:  # and the rows are all there
            versions = session.query(DefinitionVersion).filter_by(conversation_id=cid).all()
            assert sorted((v.name, v.version) for v in versions) == [
                ("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 1), ("d", 1), ("e", 1)]
            assert session.query(ReadSet).filter_by(conversation_id=cid).count() > 0
            assert session.query(ReadSetItem).count() > 0
            assert session.query(Blob).count() > 0
            by_name = {(v.name, v.version): v for v in versions}
            assert by_name[("c", 1)].read_set_id is not None  # c read a, written by the same block
            assert by_name[("e", 1)].read_set_id is None


def test_warming_stops_when_asked_and_goes_on_where_it_stopped(tmp_path: Path) -> None:
    with Envloop.open(str(tmp_path / "a.db")) as app:
        engine = app.database.engine
        asked = []

        def stop_after_two() -> bool:
            asked.append(1)
            return len(asked) > 2

        assert not warm(engine, stop_after_two)
        assert len(asked) == 3  # two statements compiled, then it stopped
        assert warm(engine)
        assert warm(engine, lambda: True)  # done: nothing left to stop


def test_warming_touches_no_row(tmp_path: Path) -> None:
    with Envloop.open(str(tmp_path / "a.db")) as app:
        ran = _ran(app.database.engine)
        assert warm(app.database.engine)
        assert ran == []
        with app.database.session() as session:
            assert session.query(Conversation).count() == 0
    assert len(statements("sqlite")) > 10


def _ran(engine: Any) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen
