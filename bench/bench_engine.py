"""Benchmark: the engine (issue 5, item 8).

1. Engine overhead per iteration with a zero-latency replay model: one turn
   of 60 iterations, each running a small block that rebinds two names; the
   time from one ``iteration_started`` event to the next covers prompt
   assembly, the model call, the block's run and every database write
   (iteration row, block, versions).  Target: at most 5 ms p50.
2. Prompt tokens (system + user message, ~4 characters a token) at iterations
   2, 10 and 30 of a turn whose blocks look like a model's (a helper of a dozen
   lines, printed rows, every third block failing inside a nested function so
   the prompt carries numbered code and a traceback).  Target: at most 1.2x
   from iteration 2 to 30.  And the system prompt: byte-identical across every
   iteration of two turns (one stored prompt), so provider prompt caching applies.
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
    gaps = sorted((b - a) * 1000 for a, b in zip(stamps[5:], stamps[6:], strict=False))  # skip warm-up iterations
    return statistics.median(gaps), gaps[int(len(gaps) * 0.95) - 1]


def _realistic_block(i: int) -> str:
    """What a model writes mid-task: a helper, a loop that prints rows, sometimes an error in a nested call.

    It reworks the same names each time (as a model refining one computation
    does), so the var index stays one size and the growth measured is the
    feedback's own: numbered code, output and tracebacks.
    """
    fail = "    return scale(row, 0)" if i % 3 == 0 else "    return scale(row, 2)"
    return "\n".join([
        "def scale(row, k):",
        f"    \"\"\"Step {i}: scale a row of readings by k.\"\"\"",
        "    return [round(v / k, 3) for v in row]",
        "",
        "def summarise(row):",
        "    total = sum(row)",
        "    mean = total / len(row)",
        "    spread = max(row) - min(row)",
        f"{fail}",
        "",
        f"rows = [[(r * 7 + c * 3 + {i}) % 17 for c in range(6)] for r in range(8)]",
        "for row in rows:",
        "    print(row, summarise(row))",
        f"checked = len(rows) + {i}",
    ])


def prompt_growth(root: Path, iterations: int = 30) -> tuple[dict[int, int], int, int]:
    """Prompt tokens at iterations 2, 10 and 30 of realistic blocks; distinct system prompts over two turns."""
    replies = [_code(_realistic_block(i)) for i in range(1, iterations)] + [_code("answer(checked)")]
    model = root / "growth.json"
    model.write_text(json.dumps(replies + [_code(_realistic_block(98)), _code("answer(checked)")]))
    with Envloop.open(str(root / "growth.db")) as app:
        first = app.send("Scale the readings", model=f"replay:{model}", max_iterations=iterations,
                         conversation_id=app.create_conversation(title="growth").id)
        second = app.send("Once more", model=f"replay:{model}", max_iterations=2, conversation_id=first.conversation_id)
        assert first.status == second.status == "done", (first, second)
        with app.database.session() as session:
            rows = session.query(Iteration).all()
            tokens = {it.position: estimate_tokens(it.system_prompt.text + it.prompt)
                      for it in rows if it.query_id == first.query_id and it.position in (2, 10, 30)}
            return tokens, len({it.system_prompt_id for it in rows}), len(rows)


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
        p50, p95 = overhead(root)
        print("\n== engine: overhead per iteration, zero-latency replay model (persistence included)")
        print(f"  p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   (target p50 <= 5 ms)  {'OK' if p50 <= 5 else 'MISSED'}")
        tokens, systems, counted = prompt_growth(root)
        print("\n== engine: prompt tokens (system + user message, numbered code and tracebacks included) by iteration")
        for position in sorted(tokens):
            ratio = tokens[position] / tokens[2]
            print(f"  iteration {position:>2}: {tokens[position]:>5} tokens   ratio to iteration 2: {ratio:.2f}x"
                  + (f"   (target <= 1.2x)  {'OK' if ratio <= 1.2 else 'MISSED'}" if position == 30 else ""))
        print(f"  system prompt: {systems} distinct over {counted} iterations of 2 turns "
              f"(byte-identical: {'OK' if systems == 1 else 'MISSED'})")
        rate, elapsed, floor = concurrency(root)
        print("\n== engine: 50 conversations x 3 turns x 2 iterations, replay latency 50 ms, all at once")
        print(f"  {rate:6.1f} turns/s   wall {elapsed:5.2f} s   one-after-another would need >= {floor:5.2f} s "
              f"(speed-up {floor / elapsed:4.1f}x)")


if __name__ == "__main__":
    main()
