"""Start-up cost of the envloop command, as a person pays it: a new process each time.

Prints the median wall time of

* ``python -c pass`` (the interpreter itself: the unit of the ratios),
* ``envloop --help`` (target: at most 3x ``python -c pass``),
* ``envloop run "1+1"`` in an existing conversation, in a brand-new process
  with no warm template (target: median at most 0.5 s on this 2-core machine),

each run alternately, so a noisy neighbour hurts all columns alike.

    .venv/bin/python bench/bench_startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENVLOOP = str(BIN / "envloop")


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ENVLOOP_DB": str(Path(tmp) / "bench.db"), "XDG_DATA_HOME": tmp}
        subprocess.run([ENVLOOP, "run", "--new", "x = 1"], env=env, check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "envloop --help": [ENVLOOP, "--help"],
            'envloop run "1+1"': [ENVLOOP, "run", "1+1"],
        }
        for argv in commands.values():  # warm the page cache and .pyc files
            _time(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                times[name].append(_time(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    unit = medians["python -c pass"]
    print(f"start-up, median of {args.rounds} new processes each ({os.cpu_count()} cores)")
    print(f"{'command':<22}{'median':>10}{'x python -c pass':>18}   target")
    targets = {
        "envloop --help": ("<= 3x python -c pass", medians["envloop --help"] / unit <= 3.0),
        'envloop run "1+1"': ("<= 0.5 s median", medians['envloop run "1+1"'] <= 0.5),
    }
    for name, median in medians.items():
        target, met = targets.get(name, ("", True))
        verdict = f"   {target}: {'OK' if met else 'MISSED'}" if target else ""
        print(f"{name:<22}{median * 1000:>8.1f}ms{median / unit:>17.2f}x{verdict}")


if __name__ == "__main__":
    main()
