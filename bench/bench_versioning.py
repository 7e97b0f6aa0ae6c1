"""Benchmark: what versioning costs (issue 4, item 9).

1. Persistence cost of a block that changes one name, with 10, 1,000 and
   10,000 names in the namespace (median of N blocks each, whole round trip:
   lock, sync check, run, change detection, one transaction).  Target: the
   largest over the smallest at most 1.5.
2. Resume: opening a conversation of 1,000 definitions (200 functions) in a
   fresh Envloop and restoring its namespace (template already running, as in
   a long-lived host), and cold (a new template too).  Target: at most 300 ms.
3. Database bytes one ``xs.append(1)`` adds to a list of 100,000 ints.

Run: ``.venv/bin/python bench/bench_versioning.py``
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from envloop.conversation import Envloop
from envloop.store.models import Blob


def _namespace_source(n: int) -> str:
    return "\n".join(f"v{i} = {i}" for i in range(n)) + "\ncounter = 0"


def persistence_cost(root: Path, sizes=(10, 1000, 10_000), repeats: int = 60) -> dict[int, float]:
    results = {}
    for n in sizes:
        with Envloop.open(str(root / f"persist{n}.db")) as app:
            cid = app.run_code(_namespace_source(n), new=True).conversation_id
            for _ in range(5):  # warm up
                app.run_code("counter = counter + 1", conversation_id=cid)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                app.run_code("counter = counter + 1", conversation_id=cid)
                times.append((time.perf_counter() - started) * 1000)
            results[n] = statistics.median(times)
    return results


def _resume_source() -> list[str]:
    blocks = ["import math\nfrom dataclasses import dataclass\n@dataclass\nclass Item:\n    name: str\n    qty: int"]
    for i in range(200):
        blocks.append(f"def f{i}(x):\n    return math.sqrt(x) + {i}")
    values = []
    for i in range(797):
        kind = i % 4
        if kind == 0:
            values.append(f"d{i} = {{'k': {i}, 'xs': list(range(20))}}")
        elif kind == 1:
            values.append(f"d{i} = Item('n{i}', {i})")
        elif kind == 2:
            values.append(f"d{i} = 'text {i} ' * 5")
        else:
            values.append(f"d{i} = [{i}, {i}.5, ({i}, 'a')]")
    blocks.append("\n".join(values))
    return blocks


def resume_time(root: Path, repeats: int = 7) -> tuple[float, float, int]:
    db = str(root / "resume.db")
    with Envloop.open(db) as app:
        cid = app.run_code(_resume_source()[0], new=True).conversation_id
        for block in _resume_source()[1:]:
            app.run_code(block, conversation_id=cid)
        count = len(app.vars(cid))
    warm = []
    for _ in range(repeats):
        app = Envloop.open(db)
        started = time.perf_counter()
        env = app.environment(cid)
        warm.append((time.perf_counter() - started) * 1000)
        assert not env.lost, env.lost
        app.close()
    # Cold: a fresh interpreter process, template start-up included.
    code = (
        "import time, sys; t = time.perf_counter(); from envloop.conversation import Envloop; "
        f"app = Envloop.open({db!r}); app.environment({cid}); print((time.perf_counter() - t) * 1000)"
    )
    import subprocess

    cold = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    return statistics.median(warm), cold, count


def append_bytes(root: Path) -> tuple[int, int, int]:
    db = root / "append.db"
    with Envloop.open(str(db)) as app:
        cid = app.run_code("xs = list(range(100_000))", new=True).conversation_id
        app.run_code("xs.append(1)", conversation_id=cid)  # first append: same path as the measured one

        def state() -> tuple[int, int]:
            with app.database.session() as s:
                blob_bytes = s.scalar(select(func.coalesce(func.sum(Blob.size), 0)))
            with sqlite3.connect(db) as raw:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = raw.execute("PRAGMA page_count").fetchone()[0] * raw.execute("PRAGMA page_size").fetchone()[0]
            return blob_bytes, pages

        blobs_before, file_before = state()
        app.run_code("xs.append(1)", conversation_id=cid)
        blobs_after, file_after = state()
        full = len(str(list(range(100_000))))
    return blobs_after - blobs_before, file_after - file_before, full


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        costs = persistence_cost(root)
        print("\n== versioning: persistence cost of a block changing one name (median ms, full round trip)")
        base = costs[min(costs)]
        for n, ms in costs.items():
            print(f"  {n:>6} names  {ms:7.3f} ms   ratio to 10 names {ms / base:5.2f}x")
        ratio = costs[max(costs)] / base
        print(f"  largest/smallest: {ratio:.2f}x  (target <= 1.5x)  {'OK' if ratio <= 1.5 else 'MISSED'}")
        warm, cold, count = resume_time(root)
        print(f"\n== versioning: resume {count} definitions (200 functions)")
        print(f"  restore in a running host: {warm:7.1f} ms (target <= 300 ms)  {'OK' if warm <= 300 else 'MISSED'}")
        print(f"  cold, new process incl. template start: {cold:7.1f} ms")
        blob_bytes, file_bytes, full = append_bytes(root)
        print("\n== versioning: one append to a list of 100,000 ints")
        print(f"  new blob bytes: {blob_bytes}   database file growth (4 KiB pages): {file_bytes}")
        print(f"  (the whole list as text is {full} bytes; chunked codec: only the changed last chunk and the root are new)")


if __name__ == "__main__":
    main()
