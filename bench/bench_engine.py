"""Benchmark: the engine (issue 5, item 8).

1. Engine overhead per iteration with a zero-latency replay model: one turn
   of 60 iterations, each running a small block that rebinds two names; the
   time from one ``iteration_started`` event to the next covers prompt
   assembly, the model call, the block's run and every database write
   (iteration row, block, versions).  Target: at most 5 ms p50.
2. Prompt tokens (system + user message, ~4 characters a token) at iterations 2, 10 and 30.
3. 50 conversations each running 3 turns of 2 iterations against a replay
   model with 50 ms simulated latency, all at once (a thread per
   conversation): turns per second against the serial lower bound.

Run: ``.venv/bin/python bench/bench_engine.py``
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from envloop.conversation import Envloop, Event
from envloop.prompt import estimate_tokens
from envloop.store.models import Iteration

FENCE = "```"


def _code(source: str) -> str:
    return f"Next step.\n{FENCE}python\n{source}\n{FENCE}\n"


def overhead(root: Path, iterations: int = 60) -> tuple[float, float, dict[int, int]]:
    replies = [_code(f"x = {i}\nlabel = 'step {i}'") for i in range(iterations - 1)] + [_code("answer(x)")]
    model = root / "overhead.json"
    model.write_text(json.dumps(replies))
    stamps: list[float] = []

    def on_event(event: Event) -> None:
        if event.kind == "iteration_started":
            stamps.append(time.perf_counter())

    with Envloop.open(str(root / "engine.db")) as app:
        app.run_code("warm = 1", new=True)  # start the template and the worker first
        result = app.send("Count", model=f"replay:{model}", max_iterations=iterations, on_event=on_event)
        assert result.status == "done", result
        with app.database.session() as session:
            tokens = {
                it.position: estimate_tokens(it.system_prompt.text + it.prompt)
                for it in session.query(Iteration).filter(Iteration.position.in_([2, 10, 30]))
            }
    gaps = sorted((b - a) * 1000 for a, b in zip(stamps[5:], stamps[6:], strict=False))  # skip warm-up iterations
    return statistics.median(gaps), gaps[int(len(gaps) * 0.95) - 1], tokens


def concurrency(root: Path, conversations: int = 50, turns: int = 3, latency: float = 0.05) -> tuple[float, float, float]:
    with Envloop.open(str(root / "many.db")) as app:
        cids = []
        for i in range(conversations):
            path = root / f"replay{i}.json"
            path.write_text(json.dumps([_code(f"n{t} = {t} * {i}") if k == 0 else _code(f"answer(n{t})")
                                        for t in range(turns) for k in range(2)]))
            cids.append((app.create_conversation(title=f"c{i}").id, f"replay:{path}?latency={latency}"))
        for cid, _ in cids:  # workers started before the clock, like conversations already open
            app.environment(cid)
        errors: list[str] = []

        def worker(cid: int, model: str) -> None:
            for t in range(turns):
                result = app.send(f"turn {t}", conversation_id=cid, model=model, max_iterations=2)
                if result.status != "done":
                    errors.append(f"{cid}: {result.status} {result.error}")

        threads = [threading.Thread(target=worker, args=pair) for pair in cids]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        assert not errors, errors[:3]
    total = conversations * turns
    serial_floor = total * 2 * latency  # model latency alone, if turns ran one after another
    return total / elapsed, elapsed, serial_floor


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        p50, p95, tokens = overhead(root)
        print("\n== engine: overhead per iteration, zero-latency replay model (persistence included)")
        print(f"  p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   (target p50 <= 5 ms)  {'OK' if p50 <= 5 else 'MISSED'}")
        print("\n== engine: prompt tokens (system + user message) by iteration")
        for position in sorted(tokens):
            print(f"  iteration {position:>2}: {tokens[position]:>5} tokens   "
                  f"ratio to iteration 2: {tokens[position] / tokens[2]:.2f}x")
        rate, elapsed, floor = concurrency(root)
        print("\n== engine: 50 conversations x 3 turns x 2 iterations, replay latency 50 ms, all at once")
        print(f"  {rate:6.1f} turns/s   wall {elapsed:5.2f} s   one-after-another would need >= {floor:5.2f} s "
              f"(speed-up {floor / elapsed:4.1f}x)")


if __name__ == "__main__":
    main()
