"""Benchmark: what the sandbox costs (issue 3, item 7).

One run measures, and prints as a table of ratios:

1. Compute kernels under four runners, interleaved round by round so that
   drift on a shared machine hits every column alike:
   plain CPython ``exec`` (twice, independently: the noise floor), the
   in-process :class:`~envloop.sandbox.interpreter.Interpreter` (policy
   cost alone), and the :class:`~envloop.sandbox.Sandbox` worker (policy
   plus process), both as the worker-reported ``duration_ms`` and as the
   host-side round trip.  Each kernel is source that defines
   ``def bench(): ...``; the definition runs once, the timed part is one
   call of ``bench()``.
2. smolagents' ``LocalPythonExecutor`` on the same kernels with fewer units
   of work (same code, smaller ``N``), compared per unit of work.
3. The round trip of a trivial block (warm), a new conversation's first
   block (``Sandbox()`` to first result, template already running), and an
   idle worker's private memory.
4. The issue's targets next to the results, OK or MISSED.

Plain CPython, the Interpreter and smolagents each run in a child process of
their own that imported only what it needs and then froze its heap for the
garbage collector (``gc.freeze()``), as the sandbox's template does before
it forks a worker: every column then pays the same, small, collection cost.

Run: ``.venv/bin/python bench/bench_sandbox.py [--rounds 7] [--quick]``
(``bench/run`` runs every ``bench/bench_*.py``).  smolagents comes from
``bench/requirements.lock`` (see ``bench/README.md``); without it that
column says so and the rest still runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER_PYTHON = HERE / ".venv-peers" / "bin" / "python"

# ---------------------------------------------------------------------------
# Kernels.  Each is linear in N (N units of work), so a smaller N for the
# slow peer can be compared per unit.  ``n`` is the full size (about 100 ms
# in plain CPython here), ``peer_n`` the size smolagents runs.
# ---------------------------------------------------------------------------

NUMERIC = """
def bench():
    total = 0
    for r in range(N):
        acc = 0
        for i in range(1000):
            acc += (i * i + r) % 7 - (i >> 3)
            if acc > 100000:
                acc -= 100000
        total += acc
    return total
"""

NBODY = """
import math

PI = math.pi
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24


def make_bodies():
    return [
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], SOLAR_MASS),
        ([4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01],
         [1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
          -6.90460016972063023e-05 * DAYS_PER_YEAR], 9.54791938424326609e-04 * SOLAR_MASS),
        ([8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01],
         [-2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
          2.30417297573763929e-05 * DAYS_PER_YEAR], 2.85885980666130812e-04 * SOLAR_MASS),
        ([1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01],
         [2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
          -2.96589568540237556e-05 * DAYS_PER_YEAR], 4.36624404335156298e-05 * SOLAR_MASS),
        ([1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01],
         [2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
          -9.51592254519715870e-05 * DAYS_PER_YEAR], 5.15138902046611451e-05 * SOLAR_MASS),
    ]


def advance(bodies, pairs, dt, steps):
    for _ in range(steps):
        for (p1, v1, m1), (p2, v2, m2) in pairs:
            dx = p1[0] - p2[0]
            dy = p1[1] - p2[1]
            dz = p1[2] - p2[2]
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** -1.5)
            b1 = m1 * mag
            b2 = m2 * mag
            v1[0] -= dx * b2
            v1[1] -= dy * b2
            v1[2] -= dz * b2
            v2[0] += dx * b1
            v2[1] += dy * b1
            v2[2] += dz * b1
        for p, v, m in bodies:
            p[0] += dt * v[0]
            p[1] += dt * v[1]
            p[2] += dt * v[2]


def energy(bodies, pairs):
    e = 0.0
    for (p1, v1, m1), (p2, v2, m2) in pairs:
        dx, dy, dz = p1[0] - p2[0], p1[1] - p2[1], p1[2] - p2[2]
        e -= (m1 * m2) / math.sqrt(dx * dx + dy * dy + dz * dz)
    for p, v, m in bodies:
        e += m * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) / 2.0
    return e


def bench():
    bodies = make_bodies()
    pairs = [(bodies[i], bodies[j]) for i in range(len(bodies)) for j in range(i + 1, len(bodies))]
    px = py = pz = 0.0
    for p, v, m in bodies:
        px += v[0] * m
        py += v[1] * m
        pz += v[2] * m
    sun_v = bodies[0][1]
    sun_v[0] = -px / SOLAR_MASS
    sun_v[1] = -py / SOLAR_MASS
    sun_v[2] = -pz / SOLAR_MASS
    advance(bodies, pairs, 0.01, N)
    return round(energy(bodies, pairs), 9)
"""

# The held-out n-body of issue 12 item 7: bodies as flat lists, item augmented assignments
# (``b[3] -= dx * m``) and ``math.sqrt`` through the module facade in the innermost loop.
NBODY_ITEMS = """
import math


def bench():
    bodies = [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 39.47841760435743],
        [4.84143144246472, -1.16032004402742, -0.10362204447112, 0.60632639299583, 2.81198684491626,
         -0.02521836165988, 0.03769367487038],
        [8.34336671824457, 4.12479856412430, -0.40352341711432, -1.01077434617730, 1.82566237123041,
         0.00841576137658, 0.01128632614050],
        [12.89436956213913, -15.11115140169863, -0.22330757889265, 1.08279100644154, 0.86871301816960,
         -0.01083270551393, 0.00172372405705],
        [15.37969711485091, -25.91931460998796, 0.17925877295037, 0.97909073224389, 0.59469899864767,
         -0.03475555319261, 0.00203368686992],
    ]
    dt = 0.01
    count = len(bodies)
    for _ in range(N):
        for i in range(count):
            bi = bodies[i]
            for j in range(i + 1, count):
                bj = bodies[j]
                dx = bi[0] - bj[0]
                dy = bi[1] - bj[1]
                dz = bi[2] - bj[2]
                d2 = dx * dx + dy * dy + dz * dz
                mag = dt / (d2 * math.sqrt(d2))
                m = bj[6] * mag
                bi[3] -= dx * m
                bi[4] -= dy * m
                bi[5] -= dz * m
                m = bi[6] * mag
                bj[3] += dx * m
                bj[4] += dy * m
                bj[5] += dz * m
        for b in bodies:
            b[0] += dt * b[3]
            b[1] += dt * b[4]
            b[2] += dt * b[5]
    return round(sum(b[0] + b[1] + b[2] for b in bodies), 9)
"""

SPECTRAL = """
def eval_a(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def a_times_u(u):
    return [sum(eval_a(i, j) * u_j for j, u_j in enumerate(u)) for i in range(len(u))]


def at_times_u(u):
    return [sum(eval_a(j, i) * u_j for j, u_j in enumerate(u)) for i in range(len(u))]


def ata_times_u(u):
    return at_times_u(a_times_u(u))


def spectral_norm(n):
    u = [1.0] * n
    for _ in range(5):
        v = ata_times_u(u)
        u = ata_times_u(v)
    vbv = sum(ue * ve for ue, ve in zip(u, v))
    vv = sum(ve * ve for ve in v)
    return (vbv / vv) ** 0.5


def bench():
    total = 0.0
    for _ in range(N):
        total += spectral_norm(24)
    return round(total, 9)
"""

FIB = """
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def bench():
    total = 0
    for _ in range(N):
        total += fib(16)
    return total
"""

DICT_STRING = """
WORDS = "the quick brown fox jumps over the lazy dog while seven wizards quietly hex a jolly box".split()


def bench():
    total = 0
    for r in range(N):
        counts = {}
        parts = []
        for i in range(100):
            w = WORDS[(i * 7 + r) % len(WORDS)]
            key = w.upper() + str(i % 13)
            counts[key] = counts.get(key, 0) + 1
            if w in counts:
                counts[w] += len(key)
            else:
                counts[w] = 1
            parts.append(f"{w}:{i}")
        text = ",".join(parts)
        total += len(text.split(",")) + sum(counts.values()) + text.count("o")
        total += text.replace("the", "THE").lower().find("fox")
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        total += len(ranked[0][0]) + len(" ".join(k.strip().title() for k, _ in ranked[:5]))
    return total
"""

COMPREHENSIONS = """
def bench():
    total = 0
    for r in range(N):
        xs = [i * i + r for i in range(200)]
        evens = [x for x in xs if x % 2 == 0]
        index = {i: x for i, x in enumerate(evens)}
        residues = {x % 97 for x in xs}
        pairs = [(a, b) for a in range(15) for b in range(a) if (a + b) % 3]
        nested = [[j * i for j in range(i)] for i in range(15)]
        total += sum(x // 3 for x in evens) + len(index) + len(residues) + len(pairs)
        total += sum(len(row) for row in nested) + max(v for v in index.values())
        total %= 1000003
    return total
"""

CALLS = """
def add(a, b):
    return a + b


def scale(x, factor=2):
    return x * factor


def apply(f, x):
    return f(x)


def make_adder(k):
    def adder(x):
        return x + k
    return adder


def keywords(a, *, b=1, c=2):
    return a + b * c


def count_args(*args):
    return len(args)


def bench():
    total = 0
    add3 = make_adder(3)
    for i in range(N):
        total = add(total, scale(i))
        total += apply(add3, i) + keywords(i, b=2) + count_args(i, i, i)
        total = total % 1000003
    return total
"""

CLASSES = """
class Vector:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def dot(self, other):
        return self.x * other.x + self.y * other.y

    def scaled(self, k):
        return Vector(self.x * k, self.y * k)


class Account:
    def __init__(self, owner):
        self.owner = owner
        self._balance = 0
        self.history = []

    def deposit(self, amount):
        self._balance += amount
        self.history.append(amount)

    def balance(self):
        return self._balance

    def __len__(self):
        return len(self.history)


class Savings(Account):
    def __init__(self, owner, rate):
        super().__init__(owner)
        self.rate = rate

    def accrue(self):
        self.deposit(self._balance * self.rate // 100)


def bench():
    total = 0
    for r in range(N):
        acc = Savings("ann", 3)
        v = Vector(0, r)
        for i in range(50):
            acc.deposit(i)
            v = v + Vector(i, -i).scaled(2)
            total += v.dot(Vector(1, 1))
        acc.accrue()
        total += acc.balance() + len(acc) + len(acc.owner)
    return total
"""

GENERATORS = """
def evens_doubled(n):
    for i in range(n):
        if i % 3:
            yield i * 2


def parse(text):
    try:
        return int(text)
    except ValueError:
        return -1


def bench():
    total = 0
    for r in range(N):
        data = [((i * 7919 + r) % 1000, str(i)) for i in range(100)]
        data.sort(key=lambda t: t[0])
        total += sum(evens_doubled(100)) + data[0][0] + data[-1][0]
        total += sum(parse(s) for s in ("12", "x", "7", "", "40"))
        a, *rest = data[:4]
        total += len(rest) + a[0]
    return total
"""


@dataclass(frozen=True)
class Kernel:
    """A kernel's source (after ``N = n``) and its sizes."""

    name: str
    body: str
    n: int  # units of work in the full run (about 100 ms in plain CPython)
    peer_n: int  # units of work under smolagents

    def source(self, n: int) -> str:
        return f"N = {n}\n{self.body}"


KERNELS = [
    Kernel("numeric loop", NUMERIC, 1_650, 4),
    Kernel("n-body", NBODY, 30_000, 80),
    Kernel("n-body items", NBODY_ITEMS, 25_000, 70),
    Kernel("spectral norm", SPECTRAL, 70, 1),
    Kernel("recursive fib", FIB, 1_050, 3),
    Kernel("dict and string", DICT_STRING, 1_500, 8),
    Kernel("comprehensions", COMPREHENSIONS, 3_000, 12),
    Kernel("user function calls", CALLS, 450_000, 1_000),
    Kernel("classes and methods", CLASSES, 3_200, 16),
    Kernel("generators and sort", GENERATORS, 5_300, 20),
]


# ---------------------------------------------------------------------------
# Measurement children: one process per runner, driven over JSON lines.
# ---------------------------------------------------------------------------


def _child_runner(kind: str):
    """``define(source) -> call`` for one kind of runner; ``call() -> (ms, result repr, error or None)``."""
    if kind == "plain":

        def define(source: str):
            ns: dict = {}
            exec(compile(source, "<kernel>", "exec"), ns)
            fn = ns["bench"]

            def call():
                started = time.perf_counter()
                value = fn()
                return (time.perf_counter() - started) * 1000.0, repr(value), None

            return call

    elif kind == "interp":
        from envloop.sandbox.interpreter import Interpreter

        def define(source: str):
            interp = Interpreter()
            out = interp.run(source)
            if not out["ok"]:
                raise RuntimeError(_error_text(out["error"], source))

            def call():
                started = time.perf_counter()
                res = interp.run("bench()")
                ms = (time.perf_counter() - started) * 1000.0
                return ms, res["result"], None if res["ok"] else _error_text(res["error"])

            return call

    elif kind == "smol":
        from smolagents.local_python_executor import LocalPythonExecutor

        def define(source: str):
            executor = LocalPythonExecutor(additional_authorized_imports=["math"], timeout_seconds=None)
            executor.send_tools({})
            executor(source)

            def call():
                started = time.perf_counter()
                try:
                    out = executor("bench()")
                except Exception as exc:  # its refusals are results to report
                    return (time.perf_counter() - started) * 1000.0, None, _short(exc)
                return (time.perf_counter() - started) * 1000.0, repr(out.output), None

            return call

    else:
        raise SystemExit(f"unknown child kind {kind!r}")
    return define


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    marker = "due to: "
    if marker in text:  # smolagents wraps the reason, itself "Type: message", after the failing line
        return text[text.rindex(marker) + len(marker):][:300]
    return f"{type(exc).__name__}: {text}"[:300]


def _error_text(error: dict | None, source: str | None = None) -> str:
    """'Type: message (line N: the line's text)'; the line's text when the source is known."""
    if not error:
        return "failed without an error"
    where = ""
    if error.get("line"):
        lines = source.splitlines() if source else []
        number = error["line"]
        text = f": {lines[number - 1].strip()[:80]}" if 0 < number <= len(lines) else ""
        where = f" (line {number}{text})"
    return f"{error['type']}: {error['message'][:300]}{where}"


def child_main(kind: str) -> None:
    """Serve ``define``/``call`` requests on stdin until end of file."""
    define = _child_runner(kind)
    gc.collect()
    gc.freeze()  # as the template does before forking workers
    calls: dict[str, object] = {}
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies on the reply channel
    for line in sys.stdin:
        request = json.loads(line)
        key = request["key"]
        try:
            if request["op"] == "define":
                calls[key] = define(request["source"])
                reply = {"ok": True}
            else:
                ms, result, error = calls[key]()  # type: ignore[operator]
                reply = {"ok": error is None, "ms": ms, "result": result, "error": error}
        except Exception as exc:
            reply = {"ok": False, "error": str(exc)[:400] if type(exc) is RuntimeError else _short(exc)}
        out.write(json.dumps(reply) + "\n")
        out.flush()


class Child:
    """A measurement child process (plain CPython, Interpreter or smolagents)."""

    def __init__(self, kind: str, python: str = sys.executable) -> None:
        self.kind = kind
        self.proc = subprocess.Popen([python, str(Path(__file__).resolve()), "--child", kind],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def request(self, **message) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} child died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _smolagents_python() -> str | None:
    """The interpreter that has smolagents: this one, else bench/.venv-peers, else None."""
    import importlib.util

    if importlib.util.find_spec("smolagents") is not None:
        return sys.executable
    if PEER_PYTHON.exists():
        return str(PEER_PYTHON)
    return None


# ---------------------------------------------------------------------------
# Part 1 and 2: kernels.
# ---------------------------------------------------------------------------


@dataclass
class Column:
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and self.error is None else None


@dataclass
class KernelResult:
    kernel: Kernel
    expected: str = ""
    columns: dict[str, Column] = field(default_factory=dict)

    def col(self, name: str) -> Column:
        return self.columns.setdefault(name, Column())


#: A kernel whose two plain CPython measurements differ by more than this, or
#: any of whose timed columns has its median this far above its fastest round
#: (so more than half the rounds were slowed down), was disturbed by other work
#: on the machine; it is measured again, at most MAX_RETRIES times.
NOISE_LIMIT = 1.10
MAX_RETRIES = 2

COLUMNS = ("plain", "plain2", "interp", "worker", "roundtrip", "plain_small", "smol")


def _take(column: Column, reply: dict, expected: str, keep: bool = True) -> None:
    """Record one timing, or the column's error (a refusal, a crash, a wrong result)."""
    if column.error is not None:
        return
    if not reply.get("ok"):
        column.error = reply.get("error") or "failed"
    elif reply.get("result") != expected:
        column.error = f"wrong result {reply.get('result')!r}; plain CPython gives {expected!r}"
    elif keep:
        column.times.append(reply["ms"])


def _sandbox_call(sandbox) -> dict:
    started = time.perf_counter()
    out = sandbox.run("bench()")
    host_ms = (time.perf_counter() - started) * 1000.0
    return {"ok": out.ok, "ms": out.duration_ms, "host_ms": host_ms, "result": out.result,
            "error": None if out.ok else _error_text(out.error)}


def measure_kernel(kernel: Kernel, children: dict[str, Child], rounds: int, smol_rounds: int,
                   workspace: Path) -> KernelResult:
    """Define the kernel everywhere once, then time ``bench()`` round by round, columns interleaved."""
    from envloop.sandbox import Sandbox

    res = KernelResult(kernel)
    full, small = kernel.source(kernel.n), kernel.source(kernel.peer_n)
    ns: dict = {}
    exec(compile(small, "<kernel>", "exec"), ns)
    expected_small = repr(ns["bench"]())
    calls: dict[str, typing.Callable[[], dict]] = {}

    def define(name: str, child: Child, key: str, source: str) -> None:
        reply = child.request(op="define", key=key, source=source)
        if reply["ok"]:
            calls[name] = lambda: child.request(op="call", key=key)
        else:
            res.col(name).error = reply["error"]

    define("plain", children["plain"], kernel.name, full)
    first = calls["plain"]()  # the reference result, and plain's warm-up
    if not first["ok"]:
        raise RuntimeError(f"{kernel.name} fails in plain CPython: {first['error']}")
    res.expected = first["result"]
    define("plain2", children["plain2"], kernel.name, full)
    define("interp", children["interp"], kernel.name, full)
    define("plain_small", children["plain"], kernel.name + "/small", small)
    if "smol" in children:
        define("smol", children["smol"], kernel.name, small)
    else:
        res.col("smol").error = "smolagents is not installed (see bench/README.md)"
    sandbox = Sandbox(workspace / f"kernel{KERNELS.index(kernel)}", timeout=600)
    try:
        out = sandbox.run(full)
        if out.ok:
            calls["sandbox"] = lambda: _sandbox_call(sandbox)
        else:
            res.col("worker").error = res.col("roundtrip").error = _error_text(out.error, full)

        def record(name: str, reply: dict, keep: bool = True) -> None:
            expected = expected_small if name in ("plain_small", "smol") else res.expected
            if name == "sandbox":
                _take(res.col("worker"), reply, expected, keep)
                _take(res.col("roundtrip"), dict(reply, ms=reply["host_ms"]), expected, keep)
            else:
                _take(res.col(name), reply, expected, keep)

        for name, call in calls.items():
            if name != "plain":
                record(name, call(), keep=False)  # warm-up; a refusal shows here
        order = list(calls)
        for r in range(rounds):
            for name in order[r % len(order):] + order[:r % len(order)]:  # rotate the order
                column = res.col("worker" if name == "sandbox" else name)
                if column.error or (name == "smol" and r >= smol_rounds):
                    continue
                record(name, calls[name]())
    finally:
        sandbox.close()
    return res


def disturbed(res: KernelResult) -> str | None:
    """Why this kernel's measurement cannot be trusted, or None."""
    for name in ("plain", "plain2", "interp", "worker"):
        column = res.col(name)
        if column.median is not None and column.median > NOISE_LIMIT * min(column.times):
            return f"{name} median {column.median / min(column.times):.2f}x its fastest round"
    noise = kernel_ratios(res)["noise"]
    if noise is not None and max(noise, 1 / noise) > NOISE_LIMIT:
        return f"plain against itself {noise:.2f}x"
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def kernel_ratios(res: KernelResult) -> dict[str, float | None]:
    c = {name: res.col(name).median for name in COLUMNS}
    k = res.kernel
    smol_unit = _ratio(c["smol"], k.peer_n)
    worker_unit = _ratio(c["worker"], k.n)
    return {
        "plain_ms": c["plain"],
        "noise": _ratio(c["plain2"], c["plain"]),
        "interp": _ratio(c["interp"], c["plain"]),
        "worker": _ratio(c["worker"], c["plain"]),
        "roundtrip": _ratio(c["roundtrip"], c["plain"]),
        "smol_plain": _ratio(c["smol"], c["plain_small"]),
        "smol_ms": c["smol"],
        "faster": _ratio(smol_unit, worker_unit),
    }


# ---------------------------------------------------------------------------
# Part 3: round trips and memory.
# ---------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def warm_round_trip(workspace: Path, runs: int) -> dict[str, float]:
    """Host-side time of ``1 + 1`` in a warm worker, and the worker's own share."""
    from envloop.sandbox import Sandbox

    with Sandbox(workspace / "warm") as sandbox:
        for _ in range(100):
            sandbox.run("1 + 1")
        host, inside = [], []
        for _ in range(runs):
            started = time.perf_counter()
            out = sandbox.run("1 + 1")
            host.append((time.perf_counter() - started) * 1000.0)
            inside.append(out.duration_ms)
            if out.result != "2":
                raise RuntimeError(f"1 + 1 gave {out!r}")
    return {"p50": _pct(host, 0.5), "p95": _pct(host, 0.95), "worker_p50": _pct(inside, 0.5)}


def first_block(workspace: Path, runs: int, pause: float) -> dict[str, float]:
    """``Sandbox()`` to the first block's result, template already running.

    ``pause`` seconds pass (untimed) between conversations, as between two
    people starting one: the template has made its next spare by then.
    With ``pause=0`` conversations start back to back.
    """
    from envloop.sandbox import Sandbox

    Sandbox(workspace / "first-warmup").close()  # the template is up
    times = []
    for i in range(runs):
        time.sleep(pause)
        started = time.perf_counter()
        sandbox = Sandbox(workspace / f"first{pause}-{i}")
        out = sandbox.run("1 + 1")
        times.append((time.perf_counter() - started) * 1000.0)
        sandbox.close()
        if out.result != "2":
            raise RuntimeError(f"1 + 1 gave {out!r}")
    return {"p50": _pct(times, 0.5), "p95": _pct(times, 0.95)}


EVERYDAY_BLOCKS = [
    "xs = [k * k for k in range(100)]\nsum(xs)",
    "def area(w, h):\n    return w * h\narea(3, 4)",
    "counts = {}\nfor w in 'a b a c b a'.split():\n    counts[w] = counts.get(w, 0) + 1\ncounts",
    "import math\nround(math.sqrt(2), 4)",
    "print(f'{len(xs)} squares, last {xs[-1]}')",
]


def _smaps(pid: int) -> dict[str, int]:
    """Private_Clean, Private_Dirty, Rss and Pss of a process, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].rstrip(":") in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


def worker_memory(workspace: Path, blocks: int, long: int = 1000) -> dict[str, dict[str, int]]:
    """An idle worker's memory after creation, after ``blocks`` everyday blocks and after ``long`` of them
    (a long conversation: what a worker keeps per block shows as growth)."""
    from envloop.sandbox import Sandbox

    with Sandbox(workspace / "memory") as sandbox:
        _ = sandbox.seccomp  # waits for the worker's ready frame
        time.sleep(0.2)
        created = _smaps(sandbox.pid)
        for i in range(blocks):
            out = sandbox.run(EVERYDAY_BLOCKS[i % len(EVERYDAY_BLOCKS)])
            if not out.ok:
                raise RuntimeError(f"everyday block failed: {out.error}")
        time.sleep(0.2)
        used = _smaps(sandbox.pid)
        for i in range(blocks, long):
            out = sandbox.run(EVERYDAY_BLOCKS[i % len(EVERYDAY_BLOCKS)])
            if not out.ok:
                raise RuntimeError(f"everyday block failed: {out.error}")
        time.sleep(0.2)
        later = _smaps(sandbox.pid)
    return {"created": created, "used": used, "long": later}


# ---------------------------------------------------------------------------
# Part 4: the report.
# ---------------------------------------------------------------------------


def _x(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}x"


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def print_kernels(results: list[KernelResult], rounds: int, smol_rounds: int) -> dict[str, object]:
    print(f"\n== sandbox: compute kernels (median of {rounds} interleaved rounds; "
          f"smolagents {smol_rounds}; ratios of medians, lower is better)")
    head = (f"{'kernel':<21}{'plain ms':>9}{'plain 2nd':>11}{'Interp.':>10}{'sandbox':>10}{'round trip':>12}"
            f" | {'smol N':>14}{'smol/plain':>12}{'sandbox faster':>16}")
    print(head)
    print(f"{'':<21}{'':>9}{'/plain':>11}{'/plain':>10}{'/plain':>10}{'/plain':>12}"
          f" | {'of full N':>14}{'same N':>12}{'per unit':>16}")
    print("-" * len(head))
    rows, failures = [], []
    for res in results:
        r = kernel_ratios(res)
        rows.append(r)
        k = res.kernel
        cells = []
        for name, ratio, width in (("plain2", r["noise"], 11), ("interp", r["interp"], 10),
                                   ("worker", r["worker"], 10), ("roundtrip", r["roundtrip"], 12)):
            err = res.col(name).error
            cells.append(f"{'FAILED*' if err else _x(ratio, 3):>{width}}")
            if err and name != "roundtrip":
                failures.append((k.name, {"plain2": "plain CPython", "interp": "Interpreter",
                                          "worker": "sandbox"}[name], err))
        smol_err = res.col("smol").error
        if smol_err:
            failures.append((k.name, "smolagents", smol_err))
        plain_ms = f"{r['plain_ms']:.1f}" if r["plain_ms"] else "—"
        print(f"{k.name:<21}{plain_ms:>9}{''.join(cells)} | {f'{k.peer_n:,}/{k.n:,}':>14}"
              f"{'FAILED*' if smol_err else _x(r['smol_plain'], 0):>12}"
              f"{'FAILED*' if smol_err else _x(r['faster'], 0):>16}")
    print("-" * len(head))
    summary: dict[str, object] = {}
    for label, pick in (("median", statistics.median), ("worst", max)):
        cells = []
        for key, width, digits in (("noise", 11, 3), ("interp", 10, 3), ("worker", 10, 3), ("roundtrip", 12, 3)):
            values = [row[key] for row in rows if row[key] is not None]
            value = pick(values) if values and len(values) == len(rows) else None
            summary[f"{key}_{label}"] = value
            cells.append(f"{_x(value, digits) if values and len(values) == len(rows) else 'n/a':>{width}}")
        smol_values = [row["smol_plain"] for row in rows if row["smol_plain"] is not None]
        faster = [row["faster"] for row in rows if row["faster"] is not None]
        fast_pick = statistics.median if label == "median" else min
        summary[f"faster_{label}"] = fast_pick(faster) if faster else None
        fast_label = "" if label == "median" else " (least)"
        print(f"{label:<21}{'':>9}{''.join(cells)} | {'':>14}"
              f"{_x(pick(smol_values), 0) if smol_values else 'n/a':>12}"
              f"{(_x(fast_pick(faster), 0) + fast_label) if faster else 'n/a':>16}")
    noise = [row["noise"] for row in rows if row["noise"] is not None]
    if noise:
        dev = max(max(v, 1 / v) for v in noise)
        print(f"noise floor: plain CPython timed against itself (two child processes): median {_x(statistics.median(noise), 3)},"
              f" widest deviation {_x(dev, 3)} (max of r and 1/r)")
    summary["smol_kernels"] = len(faster)
    print("Interp. = envloop's Interpreter in a plain process (policy cost, no worker); sandbox = time inside\n"
          "the worker (RunResult.duration_ms, policy + process); round trip = host-side Sandbox.run.")
    print("smolagents' LocalPythonExecutor runs the same kernel source with N scaled down (smol N of full N);\n"
          "'smol/plain' compares it with plain CPython at that same N; 'sandbox faster' = smolagents' time\n"
          "per unit of work over the sandbox's (worker time) per unit.  Its median is over the kernels\n"
          "smolagents can run.")
    if failures:
        print("* failures:")
        for name, runner, err in failures:
            print(f"  {name} under {runner}: {err}")
    return summary


def print_latency(warm: dict, first: dict, back_to_back: dict, memory: dict, runs: dict) -> None:
    print("\n== sandbox: round trips (host side, ms) and worker memory")
    print(f"  trivial block `1 + 1`, warm worker ({runs['warm']} runs): p50 {warm['p50']:.3f}  "
          f"p95 {warm['p95']:.3f}   (inside the worker: p50 {warm['worker_p50']:.3f})")
    print(f"  new conversation's first block, Sandbox() to result ({runs['first']} runs, "
          f"template running, 50 ms apart): p50 {first['p50']:.3f}  p95 {first['p95']:.3f}")
    print(f"  the same back to back, no pause ({runs['b2b']} runs, the spare may not be ready): "
          f"p50 {back_to_back['p50']:.3f}  p95 {back_to_back['p95']:.3f}")
    for label, key in (("just created", "created"), (f"after {runs['blocks']} everyday blocks", "used")):
        m = memory[key]
        private = m["Private_Clean"] + m["Private_Dirty"]
        print(f"  idle worker memory, {label}: private {private / 1024:.2f} MiB = {private * 1024 / 1e6:.2f} MB "
              f"(clean {m['Private_Clean']} KiB + dirty {m['Private_Dirty']} KiB), "
              f"RSS {m['Rss'] / 1024:.1f} MiB, PSS {m['Pss'] / 1024:.1f} MiB")
    grown = sum(memory["long"][k] - memory["used"][k] for k in ("Private_Clean", "Private_Dirty"))
    print(f"  idle worker memory, after {runs['long']} everyday blocks: {grown:+d} KiB private since block "
          f"{runs['blocks']} (what the worker keeps per block)")


def print_targets(summary: dict, warm: dict, first: dict, memory: dict) -> None:
    print("\n== sandbox: targets (issue 3, item 7)")
    rows = []
    med, worst = summary.get("worker_median"), summary.get("worker_worst")
    rows.append(("kernels, median sandbox/plain", "<= 1.10x", _x(med, 3), med is not None and med <= 1.10))
    rows.append(("kernels, worst sandbox/plain", "<= 1.25x", _x(worst, 3), worst is not None and worst <= 1.25))
    faster = summary.get("faster_median")
    rows.append((f"faster than LocalPythonExecutor, median ({summary.get('smol_kernels', 0)} kernels)",
                 ">= 60x", _x(faster, 0), faster is not None and faster >= 60))
    rows.append(("trivial block, warm, p50", "<= 0.5 ms", f"{warm['p50']:.3f} ms", warm["p50"] <= 0.5))
    rows.append(("new conversation's first block, p50", "<= 5 ms", f"{first['p50']:.3f} ms", first["p50"] <= 5.0))
    for label, key in (("created", "created"), ("after 100 blocks", "used")):
        m = memory[key]
        mb = (m["Private_Clean"] + m["Private_Dirty"]) * 1024 / 1e6  # decimal MB, the stricter reading
        rows.append((f"idle worker private memory, {label}", "<= 5 MB", f"{mb:.2f} MB", mb <= 5.0))
    width = max(len(r[0]) for r in rows)
    for label, target, value, ok in rows:
        print(f"  {label:<{width}}  target {target:<10} measured {value:<11} {_verdict(ok)}")
    if summary.get("still_disturbed"):
        print(f"  ({summary['still_disturbed']} kernel(s) stayed disturbed by other work: the kernel"
              " verdicts of this run are not reliable; run again on a quieter machine)")


# ---------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per kernel and runner")
    parser.add_argument("--smol-rounds", type=int, default=5, help="timed rounds under smolagents")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs: a smoke test, not a measurement")
    parser.add_argument("--only", action="append", help="only the kernels whose name contains this")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    rounds, smol_rounds = (2, 1) if args.quick else (args.rounds, min(args.smol_rounds, args.rounds))
    runs = {"warm": 200 if args.quick else 2000, "first": 20 if args.quick else 100,
            "b2b": 10 if args.quick else 30, "blocks": 100, "long": 1000}
    kernels = [k for k in KERNELS if not args.only or any(o in k.name for o in args.only)]
    print(f"sandbox bench: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    children = {"plain": Child("plain"), "plain2": Child("plain"), "interp": Child("interp")}
    smol_python = _smolagents_python()
    if smol_python:
        children["smol"] = Child("smol", smol_python)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="envloop-bench-") as tmp:
            workspace = Path(tmp)
            results, retried = [], []
            for k in kernels:
                res = measure_kernel(k, children, rounds, smol_rounds, workspace)
                for attempt in range(MAX_RETRIES + 1):
                    why = disturbed(res)
                    if why is None:
                        break
                    if attempt == MAX_RETRIES:
                        retried.append(f"{k.name}: {why}, STILL DISTURBED after {MAX_RETRIES} re-measurements")
                        break
                    retried.append(f"{k.name}: {why}, measured again")
                    res = measure_kernel(k, children, rounds, smol_rounds, workspace)
                results.append(res)
            warm = warm_round_trip(workspace, runs["warm"])
            first = first_block(workspace, runs["first"], pause=0.05)
            back_to_back = first_block(workspace, runs["b2b"], pause=0.0)
            memory = worker_memory(workspace, runs["blocks"], runs["long"])
    finally:
        for child in children.values():
            child.close()
    summary = print_kernels(results, rounds, smol_rounds)
    if retried:
        print(f"disturbed by other work on the machine (a column's median over {NOISE_LIMIT:.2f}x its minimum,"
              f" or plain against itself beyond {NOISE_LIMIT:.2f}x):")
        for line in retried:
            print(f"  {line}")
    print_latency(warm, first, back_to_back, memory, runs)
    summary["still_disturbed"] = sum("STILL DISTURBED" in line for line in retried)
    print_targets(summary, warm, first, memory)
    print(f"\n(took {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f} at the end)")


if __name__ == "__main__":
    main()
