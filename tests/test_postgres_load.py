"""Several envloop processes on one PostgreSQL database, under load and faults.

Small by default (CI time); ``ENVLOOP_LOAD_FULL=1`` runs the full proof of
issue 17 (4 processes × 25 conversations × 20 blocks, 10 kills, a restart
under 4 processes), as ``bench/load_postgres.py`` does.  The checks live in
that script (``check_consistency``): contiguous version numbers per
conversation, nothing reported committed is lost, and every process's live
namespace, a freshly restored one and the stored state agree.

The server is this module's own (it gets restarted), not the session's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

FULL = os.environ.get("ENVLOOP_LOAD_FULL") == "1"


def _load_script():
    path = Path(__file__).resolve().parent.parent / "bench" / "load_postgres.py"
    spec = importlib.util.spec_from_file_location("load_postgres", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_postgres"] = module
    spec.loader.exec_module(module)
    return module


load = _load_script()


@pytest.fixture(scope="module")
def own_server(pg_server):  # pg_server: skip, with its reason, where PostgreSQL is absent
    server = load.load_pgserver().PgServer().start()
    yield server
    server.destroy()


@pytest.mark.slow
def test_processes_share_conversations_without_losing_or_repeating_a_version(own_server) -> None:
    size = (4, 25, 20) if FULL else (3, 3, 3)
    figures = load.run_load(own_server, *size)
    assert figures["blocks"] == size[0] * size[1] * size[2]
    assert figures["versions_of_n"] == size[1] * (size[0] * size[2] + 1)


@pytest.mark.slow
def test_a_killed_process_hands_the_conversation_over_at_once(own_server) -> None:
    figures = load.run_kills(own_server, 10 if FULL else 2)
    # "At once": far inside the 30 s lease a dead SQLite-style holder would keep.
    assert figures["takeover_ms_max"] < figures["lock_lease_s"] * 1000


@pytest.mark.slow
def test_a_server_restart_is_reported_survived_and_loses_nothing(own_server) -> None:
    figures = load.run_restart(own_server, 4 if FULL else 2, 10 if FULL else 2, 10 if FULL else 4)
    assert figures["errors_reported"] >= 1
