"""Real data in the var index: big values stream in chunks, limits and quotas are reported when the block runs.

Each ``run_cli`` call is a new envloop process, so "stores" here always means
"a later process gets it back".
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from envloop.sandbox import Sandbox
from envloop.sandbox.stream import (
    LocalChunks,
    MemoryChunkStore,
    Streamed,
    decode_value,
    encode_value,
)


@pytest.fixture
def cli(run_cli, data_home: Path):
    """Run a command (JSON output parsed) against the test's database; assert the exit status."""

    def call(*args: str, status: int = 0, env: dict[str, str] | None = None) -> Any:
        done = run_cli(*args, env=env, timeout=300)
        assert done.returncode == status, (args, done.stdout, done.stderr)
        return json.loads(done.stdout) if "--json" in args else done

    return call


def _db(data_home: Path) -> sqlite3.Connection:
    return sqlite3.connect(next(data_home.rglob("*.db")))


def test_values_bigger_than_any_frame_store_and_resume(cli) -> None:
    report = cli("run", "--new", "--json", "xs = list(range(1_000_000))\nimport random\n"
                 "b = random.Random(7).randbytes(5_000_000)\nbig = 'z' * 40_000_000\nn = 1")
    assert report["ok"] and report["not_stored"] == []
    assert {"xs", "b", "big", "n"} <= set(report["names"])
    again = cli("run", "--json", "import random\n"
                "print(xs[-1], len(xs), b == random.Random(7).randbytes(5_000_000), len(big), big[-3:], n)")
    assert again["stdout"] == "999999 1000000 True 40000000 zzz 1\n"


def test_word_counts_over_600k_words_store_and_resume(cli) -> None:
    code = ("words = [('w' + str(i % 5000)) for i in range(600_000)]\ncounts = {}\n"
            "for w in words:\n    counts[w] = counts.get(w, 0) + 1\nrows = sorted((c, w) for w, c in counts.items())")
    assert cli("run", "--new", "--json", code)["not_stored"] == []
    again = cli("run", "--json", "print(len(words), len(counts), counts['w42'], rows[0], type(rows[0]).__name__)")
    assert again["stdout"] == "600000 5000 120 (120, 'w0') tuple\n"


def test_only_chunks_the_store_lacks_cross_the_pipe(tmp_path: Path) -> None:
    store = MemoryChunkStore()
    with Sandbox(tmp_path / "ws", chunk_store=store) as sandbox:
        first = sandbox.run("xs = list(range(1_000_000))")
        assert first.ok and len(first.changes[0]["chunks"]) > 3
        held = len(store.chunks)
        appended = sandbox.run("xs.append(-1)")
        assert appended.changes[0]["name"] == "xs"
        assert len(store.chunks) - held <= 2  # the last chunk (and at most its neighbour), not the list again
        unchanged = sandbox.run("len(xs)")
        assert unchanged.changes == () and unchanged.result == "1000001"


def test_a_value_offered_chunk_by_chunk_sends_exactly_the_chunks_the_store_lacks(tmp_path: Path) -> None:
    """A big value is offered a chunk's worth at a time while it is encoded: still only what is missing crosses."""
    store = MemoryChunkStore()
    crossed: list[str] = []
    keep = store.put
    store.put = lambda digest, data: (crossed.append(digest), keep(digest, data))[1]  # type: ignore[method-assign]
    with Sandbox(tmp_path / "ws", chunk_store=store) as sandbox:
        first = sandbox.run("a = list(range(1_000_000))")
        assert first.ok and len(first.changes[0]["chunks"]) >= 4
        crossed.clear()
        second = sandbox.run("b = list(range(1_000_000))\nb[600_000] = -1\nc = b[:]")  # b and c: the same chunks
        [b, c] = sorted(second.changes, key=lambda change: change["name"])
        assert b["chunks"] == c["chunks"]
        lacking = set(b["chunks"]) - set(first.changes[0]["chunks"])
        assert 0 < len(lacking) < len(b["chunks"])  # the chunks before the change are a's
        assert sorted(crossed) == sorted(lacking)  # each lacking chunk once, nothing the store held
        assert sandbox.run("print(b == c, b[600_000], b[599_999], len(b))").stdout == "True -1 599999 1000000\n"


SHAPES: list[object] = [
    list(range(-5, 300_000)),
    [i * 0.25 for i in range(100_000)] + [float("inf"), -0.0, 1e308],
    ["s" + str(i) for i in range(50_000)] + ["é∂", ""],
    [{"id": i, "name": "n" + str(i), "ok": i % 2 == 0, "x": None} for i in range(30_000)],
    [(i, i * 0.5, "p" + str(i)) for i in range(30_000)],
    [[i, i + 1] for i in range(20_000)],
    {"w" + str(i): i for i in range(100_000)},
    {"nested": {"a": [1, (2, 3), {"b": b"\x00\xff"}]}, (1, 2): "tuple key", 3: [None, True, False]},
    "long " * 200_000,
    bytes(range(256)) * 5000,
    (1, "two", 3.0, None),
    [{"id": i, "tags": ["a", "b"], "pos": {"x": i, "y": [i, -i]}} for i in range(20_000)],  # parsed-JSON records
    {i: [i, i + 1] for i in range(10_000)},
    [{"t": (1, 2)}, {"t": [3, (4, [5])]}],  # tuples deep inside records
    ([[1, 2], {"k": "v"}], "top-level tuple of containers"),
    [2**64, 2**70, -(2**65)],  # big ints: the walker
    {1, 2, 3},  # a set: the walker
    ["lone \ud800 surrogate", "ok"],  # not UTF-8: the walker
    [True, 1, 1.0, False, 0, None],  # bools stay bools, ints ints
]


@pytest.mark.parametrize("value", SHAPES, ids=lambda v: type(v).__name__ + str(len(v)))  # type: ignore[arg-type]
def test_data_shapes_come_back_equal_and_of_the_same_types(value: object) -> None:
    chunks = LocalChunks()
    encoded = encode_value(value, (), chunks.put, 1 << 30)
    assert isinstance(encoded, Streamed)
    back = decode_value({"encoding": "envloop-codec-2", "chunks": encoded.chunks}, {}, chunks.fetch)
    assert back == value and _types(back) == _types(value)


def _types(value: object) -> object:
    if type(value) in (list, tuple):
        return type(value), [_types(v) for v in value[:50]]  # type: ignore[index]
    if type(value) is dict:
        return dict, [(_types(k), _types(v)) for k, v in list(value.items())[:50]]  # type: ignore[attr-defined]
    return type(value)


def _round_trip(value: object) -> Any:
    chunks = LocalChunks()
    encoded = encode_value(value, (), chunks.put, 1 << 30)
    assert isinstance(encoded, Streamed)
    return decode_value({"encoding": "envloop-codec-2", "chunks": encoded.chunks}, {}, chunks.fetch)


def test_shared_and_cyclic_containers_keep_their_identity() -> None:
    row = [1, 2]
    cyclic: list[object] = [row, row]
    cyclic.append(cyclic)
    back = _round_trip(cyclic)
    assert back[0] is back[1] and back[2] is back and back[0] == [1, 2]
    record = {"a": 1}
    records = _round_trip([{"r": record}, {"r": record}, {"other": [record]}])
    assert records[0]["r"] is records[1]["r"] is records[2]["other"][0]
    grid = _round_trip([[0] * 3] * 3)
    grid[0][0] = 1
    assert grid == [[1, 0, 0]] * 3


def test_rows_met_twice_keep_their_identity_and_unshared_rows_are_not_numbered() -> None:
    rows = [(i, "r" + str(i)) for i in range(40_000)]  # more than one survey window
    rows[30_001] = rows[30_000]
    back = _round_trip(rows)
    assert back == rows and back[30_000] is back[30_001] and type(back[0]) is tuple
    pair = (1, 2)
    nested = _round_trip([[pair, pair]])
    assert nested[0][0] is nested[0][1]  # nested too
    fresh = _round_trip([(i, i + 1) for i in range(40_000)])
    assert fresh[0] is not fresh[1] and fresh[-1] == (39_999, 40_000)


def test_rows_checked_column_by_column_keep_every_type() -> None:
    long = "t" * 1000
    rows: list[Any] = [(i, i * 0.5, "r" + str(i)) for i in range(5_000)]
    rows[10] = (10, True, long)  # a bool among the floats, a long string in a column of short ones
    rows[20] = (20, None, 2**70)
    back = _round_trip(rows)
    assert back == rows and type(back[10][1]) is bool and back[20][1] is None and back[20][2] == 2**70
    rows[30] = (30, bytearray(b"x"), "r30")  # not plain data: the walker keeps it a bytearray
    back = _round_trip(rows)
    assert back == rows and type(back[30][1]) is bytearray and type(back[10][1]) is bool
    records = [{"id": i, "name": "n" + str(i)} for i in range(5_000)]
    records[7] = {"name": "seven", "id": 7}  # the same keys in another order: its column mixes types
    back = _round_trip(records)
    assert back == records and list(back[7]) == ["name", "id"] and type(back[8]["id"]) is int


def _snapshot_pair() -> tuple[Any, Any]:
    from envloop.sandbox.interpreter import Interpreter
    from envloop.sandbox.snapshot import Snapshotter

    interp = Interpreter()
    return interp, Snapshotter(interp)


def _run_block(interp: Any, snap: Any, source: str) -> list[dict[str, Any]]:
    result = interp.run(source)
    assert result["ok"], result
    return snap.collect(source, result)


def test_a_record_of_a_big_list_shared_with_another_name_is_stored_with_it_and_comes_back_shared() -> None:
    interp, snap = _snapshot_pair()
    _run_block(interp, snap, "records = [{'id': i, 'tags': ['a']} for i in range(50_000)]\nother = [1]")
    _run_block(interp, snap, "r = records[7]")  # records is read: surveyed again, its record 7 now shared
    changes = _run_block(interp, snap, "r['id'] = -1")  # records is not touched by name
    assert sorted(c["name"] for c in changes) == ["r", "records"]  # a mutation through an alias versions both
    assert {c.get("member") for c in changes} == {"r", "records"}  # stored as one value
    items = [{"name": c["name"], "kind": c["kind"], "source": c.get("source"),
              "value": {"encoding": c["encoding"], "chunks": c["chunks"], "member": c.get("member")}}
             for c in changes]
    fresh, other = _snapshot_pair()
    other.chunk_sink = snap.chunk_sink
    assert other.restore(items)["failed"] == []
    ns = fresh.namespace
    assert ns["r"] is ns["records"][7] and ns["r"] == {"id": -1, "tags": ["a"]} and len(ns["records"]) == 50_000


def test_nan_keeps_its_sign_bit() -> None:
    chunks = LocalChunks()
    value = [float("nan"), -float("nan")]
    encoded = encode_value(value, (), chunks.put, 1 << 30)
    assert isinstance(encoded, Streamed)
    back: Any = decode_value({"encoding": "envloop-codec-2", "chunks": encoded.chunks}, {}, chunks.fetch)
    assert [math.copysign(1, x) for x in back] == [math.copysign(1, x) for x in value]


def test_a_value_over_the_limit_is_reported_when_the_block_runs_and_the_rest_is_kept(cli) -> None:
    env = {"ENVLOOP_MAX_VALUE_BYTES": "1MB"}
    report = cli("run", "--new", "--json", "xs = list(range(1_000_000))\nsmall = [1, 2, 3]\nprint('done')\nlen(xs)",
                 env=env)
    assert report["ok"] and report["stdout"] == "done\n" and report["result"] == "1000000"
    [refused] = report["not_stored"]
    assert refused["name"] == "xs" and refused["size"] > 1_000_000
    assert "not stored" in refused["reason"] and "4.6 MiB" in refused["reason"] and "ENVLOOP_MAX_VALUE_BYTES" in refused["reason"]
    listed = {v["name"]: v for v in cli("vars", "--json", env=env)}
    assert listed["xs"]["status"] == "lost" and listed["small"]["status"] == "live"
    assert "over the limit" in listed["xs"]["lost_reason"] and listed["xs"]["size"] == refused["size"]
    text = cli("run", "print(small)", env=env)
    assert text.stdout == "[1, 2, 3]\n"


def test_the_conversation_limit_refuses_what_does_not_fit(cli) -> None:
    env = {"ENVLOOP_MAX_CONVERSATION_BYTES": "6MB"}
    cli("run", "--new", "--json", "a = list(range(1_000_000))", env=env)
    report = cli("run", "--json", "b = list(range(1_000_000))\nc = 'fits'", env=env)
    assert [r["name"] for r in report["not_stored"]] == ["b"]
    assert "ENVLOOP_MAX_CONVERSATION_BYTES" in report["not_stored"][0]["reason"]
    assert cli("run", "--json", "print(len(a), c)", env=env)["stdout"] == "1000000 fits\n"


def test_artifact_quota_is_a_clear_error_and_the_block_keeps_its_other_effects(cli) -> None:
    env = {"ENVLOOP_MAX_ARTIFACT_BYTES": "1MB"}
    code = ("saved = 0\nerror = None\nfor i in range(5):\n    try:\n        save_artifact('part' + str(i), 'x' * 300_000)\n"
            "        saved += 1\n    except ValueError as exc:\n        error = str(exc)\nkept = 'yes'")
    report = cli("run", "--new", "--json", code, env=env)
    assert report["ok"]
    again = cli("run", "--json", "print(saved, kept)\nprint(error)", env=env)
    assert again["stdout"].splitlines()[0] == "3 yes"
    assert "quota" in again["stdout"] and "ENVLOOP_MAX_ARTIFACT_BYTES" in again["stdout"]
    assert sorted(a["name"] for a in cli("artifacts", "--json")) == ["part0", "part1", "part2"]


def test_artifacts_of_a_block_killed_at_its_deadline_are_not_stored(cli) -> None:
    cli("run", "--new", "--json", "x = 1")
    report = cli("run", "--json", "--timeout", "2", "save_artifact('early', 'data')\nwhile True:\n    pass", status=3)
    assert report["limit"] == "timeout"
    assert cli("artifacts", "--json") == []


def test_workspace_quota_stops_write_file_with_a_clear_error(cli) -> None:
    env = {"ENVLOOP_MAX_WORKSPACE_BYTES": "1MB"}
    code = ("n = 0\ntry:\n    for i in range(10):\n        write_file('f' + str(i) + '.txt', 'y' * 300_000)\n"
            "        n += 1\nexcept ValueError as exc:\n    print(exc)\nafter = n")
    report = cli("run", "--new", "--json", code, env=env)
    assert "workspace" in report["stdout"] and "ENVLOOP_MAX_WORKSPACE_BYTES" in report["stdout"]
    assert cli("run", "--json", "print(after)", env=env)["stdout"] == "3\n"


def test_provenance_rows_grow_linearly_with_reads_and_writes(cli, data_home: Path) -> None:
    n = 300
    setup = "".join(f"l{i} = []\n" for i in range(n))
    body = "".join(f"    l{i}.append(1)\n" for i in range(n))
    cli("run", "--new", "--json", setup + "def g():\n" + body)
    report = cli("run", "--json", "g()")
    assert len(report["names"]) == n
    with _db(data_home) as db:
        items = db.execute("select count(*) from read_set_items").fetchone()[0]
        edges = db.execute("select count(*) from provenance_edges").fetchone()[0]
    assert items + edges <= 3 * n  # N names read and written: O(N) rows, not N * N
    reads = {v["version"]: v["reads"] for v in cli("history", "l7", "--json")}
    assert "l7 v1" in reads[2] and "l123 v1" in reads[2] and "g v1" in reads[2]


# -- memory: bounded by a few chunks on both sides, whatever the value's size -----------------------------------

class _Holder:
    def __init__(self, data: object) -> None:
        self.data = data


@pytest.mark.parametrize("value", [
    _Holder([b"\x00\xff" * 300_000, "long text " * 50_000, bytearray(b"ba" * 5000), "short"]),
    _Holder({"k" * 5000: b"v" * 5000, "lone \ud800 surrogate " * 500: "é" * 300_000}),
], ids=["leaves", "keys-and-surrogates"])
def test_the_walker_carries_long_str_and_bytes_outside_its_text_and_they_come_back(value: _Holder) -> None:
    chunks = LocalChunks()
    shared = [value, value.data]
    encoded = encode_value(shared, (_Holder,), chunks.put, 1 << 30)
    assert isinstance(encoded, Streamed)
    back = decode_value({"encoding": "envloop-codec-2", "chunks": encoded.chunks}, {"_Holder": _Holder},
                        chunks.fetch)
    assert type(back) is list and back[0].data == value.data and back[0].data is back[1]
    assert [type(x) for x in _items(back[0].data)] == [type(x) for x in _items(value.data)]
    assert encoded.preview.startswith("[_Holder(data=")


def _items(data: object) -> list[object]:
    return list(data.items()) if isinstance(data, dict) else list(data)  # type: ignore[call-overload]


def _worker_mb(pid: int, reset: bool = False) -> dict[str, float]:
    """The worker's VmRSS and VmHWM (its peak) in MB; ``reset``: start its peak again from now."""
    try:
        if reset:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        pytest.skip("the worker's /proc entries are not readable or writable here")
    return {line[:5]: int(line.split()[1]) / 1024 for line in text.splitlines() if line.startswith(("VmRSS", "VmHWM"))}


MB = 1 << 20
VALUE_MB = 96  # 96 chunks


@pytest.mark.parametrize(("make", "use"), [
    # an own class's instance, and a second name sharing its list: the Python walker's path
    (f"class Box:\n    def __init__(self, parts):\n        self.parts = parts\n"
     f"rng = random.Random(5)\nbox = Box([rng.randbytes({MB}) for i in range({VALUE_MB})])\nparts = box.parts\ndel rng",
     "n = sum(map(len, box.parts))"),
    # one bytearray grown in place (the walker's path, carried outside its text)
    (f"rng = random.Random(5)\nbuf = bytearray()\nfor i in range({VALUE_MB}):\n    buf += rng.randbytes({MB})\ndel rng, i",
     "n = len(buf)"),
    # one bytes object: the C path, written and rebuilt in pieces
    (f"big = random.Random(5).randbytes({VALUE_MB * MB})", "n = len(big)"),
], ids=["shared-instance", "bytearray", "one-bytes"])
def test_storing_and_restoring_a_value_many_chunks_long_holds_a_few_chunks_more(
        tmp_path: Path, make: str, use: str) -> None:
    """Memory above the value itself stays a small fraction of it, in the host and in the worker.

    Host: Python allocations while the block stores the value and while a new
    process restores it.  Worker: its peak while a block that reads the value
    encodes it again (the store's path; the block that made it also holds what
    making it took), and after a restore, its peak above a fresh worker plus the value.
    """
    import tracemalloc

    from envloop.conversation import Envloop

    value = VALUE_MB
    db = str(tmp_path / "memory.db")
    with Envloop.open(db, timeout=120) as app:
        cid = app.run_code("import random", new=True).conversation_id
        pid = app.environment(cid).sandbox.pid
        fresh = _worker_mb(pid)["VmRSS"]
        tracemalloc.start()
        try:
            made = app.run_code(make, conversation_id=cid).outcome
            host_store = tracemalloc.get_traced_memory()[1] / MB
        finally:
            tracemalloc.stop()
        assert made.result.ok and made.not_stored == [] and made.changed, made
        before = _worker_mb(pid, reset=True)["VmRSS"]
        used = app.run_code(use, conversation_id=cid).outcome
        assert used.result.ok and used.not_stored == [], used
        store = _worker_mb(pid)["VmHWM"] - before
    with Envloop.open(db, timeout=120) as app:
        tracemalloc.start()
        try:
            back = app.run_code("print(n)", conversation_id=cid).outcome
            host_restore = tracemalloc.get_traced_memory()[1] / MB
        finally:
            tracemalloc.stop()
        assert back.result.stdout == f"{value * MB}\n", back
        restore = _worker_mb(app.environment(cid).sandbox.pid)["VmHWM"] - fresh - value
    print(f"{value} MB value; host {host_store:.1f} / {host_restore:.1f} MB; worker {store:.1f} / {restore:.1f} MB")
    assert host_store < value / 3 and host_restore < value / 3  # a few chunks (whole: 96 MB or more)
    assert store < value / 3 and restore < value / 3


def test_names_whose_encoding_runs_out_of_memory_are_reported_lost_and_the_block_keeps_the_rest(monkeypatch) -> None:
    """A worker near its memory limit: the names that could not be encoded say so; nothing vanishes silently."""
    interp, snap = _snapshot_pair()
    ns = interp.namespace
    real = snap._encode

    def encode(value: object, walker: bool = False) -> Any:
        huge, rows = ns.get("huge"), ns.get("rows")
        if value is huge or (type(value) is dict and any(v is huge or v is rows for v in value.values())):
            raise MemoryError  # "huge" fails alone too; "rows" only with its alias, as one group
        return real(value, walker)

    monkeypatch.setattr(snap, "_encode", encode)
    changes = {c["name"]: c for c in _run_block(
        interp, snap, "huge = ['h']\nalias = huge\nrows = [1, 2]\nrows2 = rows\nsmall = 3")}
    assert sorted(changes) == ["alias", "huge", "rows", "rows2", "small"]
    for name in ("alias", "huge"):
        assert changes[name]["lost_reason"] == f"{name}: not stored: the worker ran out of memory while encoding it"
    for name in ("rows", "rows2", "small"):  # the group that failed is stored name by name
        assert changes[name].get("encoding") == "envloop-codec-2" and "lost_reason" not in changes[name]
    again = _run_block(interp, snap, "n = len(huge)")  # read, still failing: no second lost version
    assert [c["name"] for c in again] == ["n"]


def test_the_hosts_chunk_store_answers_offers_from_the_database_it_writes(tmp_path: Path) -> None:
    """What the worker is told to send: chunks neither the database nor this block's spool holds."""
    import hashlib

    from envloop.store.chunks import SpoolChunkStore
    from envloop.store.db import open_database

    database = open_database(str(tmp_path / "a.db"))
    store = SpoolChunkStore(database)
    stored, spooled, new = b"stored" * 1000, b"spooled" * 1000, b"new" * 1000
    digest = {data: hashlib.sha256(data).hexdigest() for data in (stored, spooled, new)}
    try:
        store.prepare()  # the probe opens before the database holds anything: it still sees later commits
        store.put(digest[stored], stored)
        with database.session(write=True) as session:
            store.commit(session, [digest[stored]])
        store.reset()
        store.put(digest[spooled], spooled)
        offered = [digest[new], digest[stored], digest[spooled], digest[new]]
        assert store.missing(offered) == [digest[new]]
        assert store._probe is not None
        store._probe.close()  # the probe broken under it: the answer comes through SQLAlchemy, the same
        assert store.missing(offered) == [digest[new]]
        assert store.missing(offered) == [digest[new]]  # and a new probe after that
    finally:
        store.close()
        database.dispose()
