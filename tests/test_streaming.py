"""Streaming with the replay model: pieces in order, cancel mid-reply, a broken stream, and what each channel shows."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from envloop.channels.telegram.format import Progress
from envloop.llm import ModelCancelled, ReplayModel, complete

FENCE = "```"


def replay(tmp_path: Path, *replies: object, name: str = "replay.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


def test_the_replay_model_streams_its_reply_in_pieces(tmp_path: Path) -> None:
    text = "Let me look.\n```python\nx = 41 + 1\nanswer(x)\n```"
    pieces: list[str] = []
    done = complete(ReplayModel(replay(tmp_path, text)), [{"role": "user", "content": "q"}], on_text=pieces.append)
    assert len(pieces) > 3 and "".join(pieces) == text == done.text


def test_cancel_stops_a_stream_mid_reply_and_keeps_what_arrived(tmp_path: Path) -> None:
    model = ReplayModel(replay(tmp_path, {"reply": "one two three four five six seven eight", "chunk_delay": 30}))
    cancel = threading.Event()

    def heard(piece: str) -> None:
        cancel.set()  # the person presses Ctrl-C as soon as the first words show

    with pytest.raises(ModelCancelled) as caught:
        model.stream([{"role": "user", "content": "q"}], on_text=heard, cancel=cancel)
    assert caught.value.partial == "one two three "


def test_a_broken_stream_ends_the_turn_with_what_arrived_and_the_error(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, {"reply": "I will compute the total by", "broken": "connection reset by the provider"})
    done = run_cli("ask", "--new", "--model", model, "Total?")
    assert done.returncode == 1
    assert "I will compute the total by" in done.stderr  # shown as it arrived
    assert "the reply broke off: connection reset by the provider (the reply broke off after 27 characters)" \
        in done.stderr
    shown = json.loads(run_cli("inspect", "--json").stdout)
    assert shown["reply"] == "I will compute the total by" and "connection reset" in shown["error"]


def test_quiet_ask_prints_only_the_answer(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, f"Computing.\n{FENCE}python\nprint('working')\nanswer(6 * 7)\n{FENCE}")
    done = run_cli("ask", "--new", "--quiet", "--model", model, "Six sevens?")
    assert done.returncode == 0 and done.stdout == "42\n" and done.stderr == ""
    loud = run_cli("ask", "--continue", "--model", replay(tmp_path, f"{FENCE}python\nprint('hi')\n6 * 7\n{FENCE}",
                                                           "Done.", name="b.json"), "Again")
    assert "print('hi')" in loud.stderr and "│ hi" in loud.stderr and "→ 42" in loud.stderr


def test_telegram_status_shows_the_reply_so_far_escaped() -> None:
    progress = Progress()
    progress.apply("iteration_started", {"iteration": 1, "max_iterations": 8})
    for piece in ("Checking <b>", "if a < b ", "first…"):
        progress.apply("model_delta", {"text": piece})
    html = progress.html()
    assert "the model is writing" in html and "<i>Checking &lt;b&gt;if a &lt; b first…</i>" in html
    progress.apply("model_reply", {"thinking": "", "blocks": 1})
    assert "Checking" not in progress.html()
    progress.apply("model_delta", {"text": "x" * 5000})
    assert len(progress.html()) < 1000  # only the newest part of a long reply
