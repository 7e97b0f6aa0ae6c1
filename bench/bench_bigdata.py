"""Benchmark: real data in the var index (issue 12, item 6).

One run prints:

1. Store throughput in MB/s for five value shapes (1M ints, 1M floats, 200k
   short strings, 200k small dicts, one 100 MB string): a block binds the
   value and envloop stores it (encode, stream over the pipe, spool, commit),
   against ``pickle.dumps(protocol=5)`` plus a SQLite blob insert and commit
   of the same bytes.  Our time is the host's wall time of the block minus
   the value's construction time (measured inside the block) and minus an
   empty block's round trip.  MB are the pickle's bytes for both columns, so
   the ratio is a ratio of times.  Each measurement uses a new database.
2. Data-heavy kernels' round trip: the block's wall time including
   persistence, against plain CPython ``exec`` plus pickling the resulting
   namespace (what a notebook that pickles its state pays).  Like against
   like, twice: in a new conversation's worker against a new ``python``
   process (timed inside, start-up excluded), where both pay for first
   touching the memory a kernel allocates; and in a worker that has run the
   kernel once already (inside a function, storing nothing) against this
   long-lived process after the same warm-up, where both reuse freed memory.
3. Peak host RSS above idle while storing, and while restoring, a 500 MB
   value (50 random 10 MB bytes in a list, so nothing deduplicates and the
   worker's 1 GiB address space holds it), each in a fresh process: the
   process's own high-water mark (``VmHWM``, reset just before the block),
   not ``ru_maxrss``, which a process started by ``subprocess`` inherits
   from its parent's peak (this script's, after parts 1 and 2).  The
   worker's peak above what it holds afterwards (the value) is shown too.
4. Resume time of a conversation holding ~50 MB of values (template warm).

Targets (issue 12): throughput >= 0.5x the reference on every shape;
kernels <= 1.5x in median; RSS < 100 MB above idle; 50 MB resume < 2 s.

Run: ``.venv/bin/python bench/bench_bigdata.py [--repeats 5] [--quick]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from envloop.conversation import Envloop

SHAPES = {
    "1M ints": "list(range(1_000_000))",
    "1M floats": "[i * 0.5 for i in range(1_000_000)]",
    "200k short strings": "['s' + str(i) for i in range(200_000)]",
    "200k small dicts": "[{'id': i, 'name': 'n' + str(i), 'score': i * 0.5} for i in range(200_000)]",
    "one 100 MB string": "random.Random(5).randbytes(50_000_000).hex()",
}

KERNELS = {
    "word counts (600k words)": (
        "words = [('w' + str(i % 5000)) for i in range(600_000)]\ncounts = {}\n"
        "for w in words:\n    counts[w] = counts.get(w, 0) + 1"),
    "sort 180k tuples": (
        "rows = [((i * 7919) % 180_000 * 0.5, i, 'r' + str(i)) for i in range(180_000)]\nrows.sort()"),
    "80k parsed JSON records": (
        "text = json.dumps([{'id': i, 'name': 'n' + str(i), 'tags': ['a', 'b'], 'v': i * 0.5} "
        "for i in range(80_000)])\nrecords = json.loads(text)"),
    "1M ints and their sum": "xs = list(range(1_000_000))\ntotal = sum(xs)",
    "50k small dicts": "items = [{'k': i, 'v': str(i)} for i in range(50_000)]",
    "150k tuples from a function": (
        "def make():\n    return [(i, i * 0.5, 'p' + str(i)) for i in range(150_000)]\nrows = make()"),
    "300x300 matrix": "m = [[i * j for j in range(300)] for i in range(300)]",
    "group 200k ints by key": (
        "groups = {}\nfor i in range(200_000):\n    groups.setdefault(i % 1000, []).append(i)"),
}
PRELUDE = "import json\nimport random\n"


def _run(app: Envloop, cid: int | None, code: str) -> tuple[int, float, Any]:
    started = time.perf_counter()
    report = app.run_code(code, conversation_id=cid, new=cid is None)
    elapsed = time.perf_counter() - started
    result = report.outcome.result
    if not result.ok or report.outcome.not_stored:
        raise SystemExit(f"block failed: {result.error} {report.outcome.not_stored}")
    return report.conversation_id, elapsed, result


def store_ours(root: Path, expr: str) -> float:
    """Seconds envloop spends storing the value ``expr`` builds (block time minus build and an empty block)."""
    with Envloop.open(str(root / f"ours{random.random()}.db")) as app:
        cid, _, _ = _run(app, None, PRELUDE + "import time")
        empty = min(_run(app, cid, "e = 1")[1] for _ in range(3))
        code = f"t0 = time.perf_counter()\nv = {expr}\nprint(time.perf_counter() - t0)"
        _, elapsed, result = _run(app, cid, code)
        return max(1e-6, elapsed - float(result.stdout) - empty)


def store_reference(root: Path, expr: str) -> tuple[float, int]:
    """Seconds for pickle.dumps(protocol 5) + a SQLite blob insert and commit; the pickle's size."""
    value = eval(expr, {"random": random})
    db = sqlite3.connect(root / f"ref{random.random()}.db")
    db.execute("pragma journal_mode=wal")
    db.execute("create table blobs (id integer primary key, data blob)")
    gc.collect()
    started = time.perf_counter()
    data = pickle.dumps(value, protocol=5)
    db.execute("insert into blobs (data) values (?)", (data,))
    db.commit()
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed, len(data)


def _warm_up(code: str) -> str:
    """The kernel run once inside a function and dropped: the process then holds freed memory of its size."""
    return "def _warm():\n" + textwrap.indent(code, "    ") + "\n_warm()\ndel _warm\n"


def kernel_ours(root: Path, code: str, warm: bool = False) -> float:
    """The kernel's block in a new conversation's worker (``warm``: after that worker ran it once, storing nothing)."""
    with Envloop.open(str(root / f"kernel{random.random()}.db")) as app:
        cid, _, _ = _run(app, None, PRELUDE)
        if warm:
            _run(app, cid, _warm_up(code))
        return _run(app, cid, code)[1]


# The reference's timed part, as source: run here (warm) and in a new ``python`` (fresh) alike.
_TIMED = """
def timed(code, namespace):
    gc.collect()
    started = time.perf_counter()
    exec(code, namespace)
    state = {k: v for k, v in namespace.items()
             if not k.startswith("_") and not callable(v) and type(v).__name__ != "module"}
    pickle.dumps(state, protocol=5)
    return time.perf_counter() - started
"""
_timed: dict[str, Any] = {"gc": gc, "time": time, "pickle": pickle}
exec(_TIMED, _timed)


def kernel_reference(code: str) -> float:
    """Plain CPython: exec + pickle of the namespace, in a fresh process (like ours: a new conversation's worker)."""
    child = (f"import gc, pickle, sys, time\n{_TIMED}\nnamespace = {{}}\nexec({PRELUDE!r}, namespace)\n"
             "print(timed(sys.stdin.read(), namespace))\n")
    done = subprocess.run([sys.executable, "-c", child], input=code, capture_output=True, text=True, check=True)
    return float(done.stdout)


def kernel_reference_warm(code: str) -> float:
    """The same in this long-lived process, after running the kernel once in a function (as ours, warm)."""
    namespace: dict[str, Any] = {}
    exec(PRELUDE, namespace)
    exec(_warm_up(code), namespace)
    return float(_timed["timed"](code, namespace))


def _memory_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM (this address space's peak) of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            found[line[:5]] = int(line.split()[1]) / 1024
    return found


def _reset_peak() -> None:
    """Start this process's VmHWM again from its current RSS (Linux >= 4.0; else it counts from exec)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def rss_child(db: str, phase: str) -> None:
    """In a fresh process: peak RSS above idle while storing (or restoring) a 500 MB value.

    Not ``ru_maxrss``: Linux carries the peak of the address space a process had
    before ``exec`` into it, and ``subprocess`` execs from the parent's (vfork), so
    the child would report this script's own peak from the throughput table.
    """
    with Envloop.open(db) as app:
        if phase == "store":
            cid, _, _ = _run(app, None, PRELUDE)
        else:
            cid = app.list_conversations()[0].id
        gc.collect()
        idle = _memory_mb()["VmRSS"]
        _reset_peak()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        code = ("rng = random.Random(3)\nbig = [rng.randbytes(10_000_000) for i in range(50)]\ndel rng"
                if phase == "store" else "print(sum(map(len, big)))")
        _, elapsed, result = _run(app, cid, code)
        peak = _memory_mb()["VmHWM"]
        worker = _memory_mb(app.environment(cid).sandbox.pid)
        print(json.dumps({"idle": idle, "peak": peak, "seconds": elapsed, "stdout": result.stdout,
                          "worker_peak": worker["VmHWM"], "worker_after": worker["VmRSS"]}))


def rss(root: Path) -> dict[str, dict[str, float]]:
    db = str(root / "rss.db")
    found = {}
    for phase in ("store", "restore"):
        done = subprocess.run([sys.executable, __file__, "--rss-child", db, phase], capture_output=True, text=True,
                              timeout=600)
        if done.returncode:
            raise SystemExit(f"RSS child failed: {done.stderr[-2000:]}")
        found[phase] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def resume_50mb(root: Path) -> tuple[float, int]:
    db = str(root / "resume.db")
    code = ("a = list(range(1_000_000))\nb = [i * 0.5 for i in range(1_000_000)]\n"
            "c = ['s' + str(i) for i in range(500_000)]\nd = [{'id': i, 'name': 'n' + str(i)} for i in range(300_000)]\n"
            "e = random.Random(9).randbytes(25_000_000)")
    with Envloop.open(db) as app:
        cid, _, _ = _run(app, None, PRELUDE + code)
        size = sum(v.size or 0 for v in app.vars(cid))
    with Envloop.open(db) as app:
        started = time.perf_counter()
        _run(app, cid, "print(len(a) + len(e))")
        return time.perf_counter() - started, size


def _row(label: str, ours: float, ref: float, unit: str, target: str, ok: bool) -> str:
    return f"{label:<28} {ours:>10.1f} {ref:>10.1f} {unit:<6} {ours / ref if ref else 0:>7.2f}x  {target:<10} " \
           f"{'OK' if ok else 'MISSED'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one repeat, no 500 MB run")
    parser.add_argument("--only", choices=["store", "kernels", "rss", "resume"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    repeats = 1 if args.quick else args.repeats
    parts = set(args.only or ["store", "kernels", "rss", "resume"])
    if args.quick:
        parts.discard("rss")
    with tempfile.TemporaryDirectory(prefix="envloop-bench-bigdata-") as tmp:
        root = Path(tmp)
        if "store" in parts:
            _store_table(root, repeats)
        if "kernels" in parts:
            _kernel_table(root, repeats)
        if "rss" in parts:
            print("\n3. peak host RSS above idle with a 500 MB value (fresh process each)")
            for phase, found in rss(root).items():
                above = found["peak"] - found["idle"]
                print(f"{phase:<28} {above:>10.1f} MB above idle ({found['idle']:.0f} MB idle, "
                      f"{found['seconds']:.1f} s)  target < 100 MB  {'OK' if above < 100 else 'MISSED'}")
                print(f"{'  worker':<28} {found['worker_peak'] - found['worker_after']:>10.1f} MB above what it "
                      f"holds after ({found['worker_after']:.0f} MB, the value)")
        if "resume" in parts:
            seconds, size = resume_50mb(root)
            print(f"\n4. resume a {size / 1e6:.0f} MB namespace: {seconds:.2f} s  target < 2 s  "
                  f"{'OK' if seconds < 2 else 'MISSED'}")


def _store_table(root: Path, repeats: int) -> None:
    print(f"1. store throughput (MB/s of pickled size, median of {repeats})")
    print(f"{'shape':<28} {'envloop':>10} {'pickle+db':>10} {'':<6} {'ratio':>8}  {'target':<10}")
    ratios = []
    for label, expr in SHAPES.items():
        ours, refs, size = [], [], 0
        for _ in range(repeats):
            ours.append(store_ours(root, expr))
            ref, size = store_reference(root, expr)
            refs.append(ref)
        mb = size / 1e6
        ours_rate, ref_rate = mb / statistics.median(ours), mb / statistics.median(refs)
        ratios.append(ours_rate / ref_rate)
        print(_row(label, ours_rate, ref_rate, "MB/s", ">= 0.5x", ours_rate / ref_rate >= 0.5))
    print(f"{'worst':<28} {'':>10} {'':>10} {'':<6} {min(ratios):>7.2f}x  {'>= 0.5x':<10} "
          f"{'OK' if min(ratios) >= 0.5 else 'MISSED'}")


def _kernel_table(root: Path, repeats: int) -> None:
    print(f"\n2. data-heavy kernels: block incl. persistence vs exec + pickle of the namespace (ms, median of "
          f"{repeats})")
    print(f"{'':<28} {'new worker':>10} {'new process':>11}  {'ratio':>6}   "
          f"{'warm worker':>11} {'warm process':>12}  {'ratio':>6}")
    fresh, warm = [], []
    for label, code in KERNELS.items():
        runs: list[list[float]] = [[], [], [], []]
        for _ in range(repeats):  # interleaved: a slow spell of the machine falls on every column alike
            for times, seconds in zip(runs, (kernel_ours(root, code), kernel_reference(code),
                                             kernel_ours(root, code, warm=True), kernel_reference_warm(code)),
                                      strict=True):
                times.append(seconds * 1000)
        ours, ref, ours_warm, ref_warm = map(statistics.median, runs)
        fresh.append(ours / ref)
        warm.append(ours_warm / ref_warm)
        print(f"{label:<28} {ours:>10.1f} {ref:>11.1f}  {ours / ref:>5.2f}x   "
              f"{ours_warm:>11.1f} {ref_warm:>12.1f}  {ours_warm / ref_warm:>5.2f}x")
    for label, ratios in (("median, both new", fresh), ("median, both warm", warm)):
        median = statistics.median(ratios)
        print(f"{label:<28} {'':>10} {'':>11}  {median:>5.2f}x   target <= 1.5x  {'OK' if median <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    os.environ.setdefault("ENVLOOP_TIMEOUT", "300")
    main()
