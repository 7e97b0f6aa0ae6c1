"""The conversation layer channels call: events, one turn at a time, eviction, channel conversations."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from envloop.conversation import Envloop, Event

FENCE = "```"


def _replay(path: Path, replies: list[str]) -> str:
    path.write_text(json.dumps(replies))
    return f"replay:{path}"


def _block(source: str) -> str:
    return f"Working.\n{FENCE}python\n{source}\n{FENCE}"


def test_events_stream_in_order(tmp_path: Path) -> None:
    events: list[Event] = []
    model = _replay(tmp_path / "r.json", [_block("total = 2 + 2\nprint(total)"), _block("answer(total)")])
    with Envloop.open(str(tmp_path / "e.db")) as app:
        result = app.send("Add", new=True, model=model, on_event=events.append)
    kinds = [e.kind for e in events]
    streamed = "".join(e.data["text"] for e in events[: kinds.index("model_reply")] if e.kind == "model_delta")
    assert streamed == _block("total = 2 + 2\nprint(total)")  # the reply arrived piece by piece first
    assert [k for i, k in enumerate(kinds) if k != "model_delta" or kinds[i - 1] != "model_delta"] == [
        "turn_started", "iteration_started", "model_delta", "model_reply", "block_started", "definition_changed",
        "block_finished", "iteration_started", "model_delta", "model_reply", "block_started", "block_finished",
        "answer",
    ]
    finished = [e for e in events if e.kind == "block_finished"][0]
    assert finished.data["stdout"] == "4\n" and finished.data["error"] is None
    assert events[-1].data["answer"] == "4" and result.answer == "4"


def test_two_sends_on_one_conversation_run_one_after_the_other(tmp_path: Path, db_url: str) -> None:
    model_a = _replay(tmp_path / "a.json", [_block("import time\ntime.sleep(0.3)\nlog = ['a']\nanswer('a')")])
    model_b = _replay(tmp_path / "b.json", [_block("log.append('b')\nanswer(','.join(log))")])
    with Envloop.open(db_url) as app:
        cid = app.create_conversation(title="shared").id
        app.environment(cid)
        results: dict[str, str] = {}
        a_running = threading.Event()

        def on_a(event: Event) -> None:
            if event.kind == "block_started":
                a_running.set()

        first = threading.Thread(
            target=lambda: results.update(a=app.send("A", conversation_id=cid, model=model_a, on_event=on_a).answer)
        )
        first.start()
        assert a_running.wait(60)  # the first turn holds the conversation
        second = threading.Thread(target=lambda: results.update(b=app.send("B", conversation_id=cid, model=model_b).answer))
        second.start()
        first.join(60)
        second.join(60)
    assert results == {"a": "a", "b": "a,b"}  # B waited for A and saw its state


def test_idle_environments_are_evicted_and_restored_on_next_use(db_url: str) -> None:
    with Envloop.open(db_url) as app:
        app.MAX_LIVE = 2
        cids = [app.run_code(f"n = {i}", new=True).conversation_id for i in range(3)]
        assert len(app.live_conversations()) == 2 and cids[0] not in app.live_conversations()
        report = app.run_code("n * 10", conversation_id=cids[0])
        assert report.outcome.result.result == "0"
        old_pid = app.environment(cids[2]).sandbox.pid
        app.evict(cids[2])
        try:
            os.kill(old_pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        # the worker is asked to die; its namespace comes back from the database
        assert app.run_code("n", conversation_id=cids[2]).outcome.result.result == "2"
        assert not alive or app.environment(cids[2]).sandbox.pid != old_pid


def test_a_channel_chat_maps_to_one_conversation(db_url: str) -> None:
    with Envloop.open(db_url) as app:
        first = app.open_conversation(channel="telegram", external_id="1001")
        again = app.open_conversation(channel="telegram", external_id="1001")
        other = app.open_conversation(channel="telegram", external_id="1002")
    assert first.id == again.id != other.id and first.channel == "telegram"


SLOW_PLUGIN = '''
from envloop.extensions_api import HostFunction, hookimpl

def launch(ctx, what):
    return f"launched {what}"

@hookimpl
def envloop_functions():
    return [HostFunction("launch", launch, "irreversible", "Launch something.", "launch(what: str) -> str")]
'''


def test_time_spent_waiting_for_approval_is_not_the_blocks_time(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "slow_plugin.py").write_text(SLOW_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ENVLOOP_EXTENSIONS", "slow_plugin")
    asked: list[str] = []

    def slow_yes(name: str, description: str) -> bool:
        asked.append(description)
        time.sleep(3.0)  # a person thinking, longer than the block's 2 s limit
        return True

    model = _replay(tmp_path / "l.json", [_block("answer(launch('rocket'))")])
    with Envloop.open(str(tmp_path / "l.db"), timeout=2.0) as app:
        result = app.send("Launch", new=True, model=model, approve=slow_yes)
    assert result.status == "done" and result.answer == "launched rocket"
    assert asked == ["launch('rocket')"]
