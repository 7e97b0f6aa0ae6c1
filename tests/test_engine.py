"""Whole turns through the real CLI with replay models: iterations, errors, budgets, cancel, approvals, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envloop.conversation import Envloop
from envloop.prompt import BUDGETS

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
FENCE = "```"


def replay(tmp_path: Path, *replies: object, name: str = "replay.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


def code(source: str, prose: str = "Let me compute that.") -> str:
    return f"{prose}\n{FENCE}python\n{source}\n{FENCE}\n"


def ask_json(run_cli, *args: str):
    done = run_cli("ask", "--json", *args)
    assert done.stdout, done.stderr
    return done, json.loads(done.stdout)


def test_multi_iteration_turn_defines_uses_and_answers(run_cli, tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        code("import math\ndef area(r):\n    return math.pi * r * r\nprint(round(area(2), 3))"),
        code("answer(f'{area(3):.2f}')", "The function works; now the real radius."),
    )
    done, result = ask_json(run_cli, "--new", "--model", model, "What is the area of a circle of radius 3?")
    assert done.returncode == 0, done.stderr
    assert result["status"] == "done" and result["answer"] == "28.27" and result["iterations"] == 2
    assert "area" in result["names"] and result["tokens"]["in"] > 0
    shown = json.loads(run_cli("inspect", "--iteration", "2", "--json").stdout)
    assert "12.566" in shown["messages"][1]["content"]  # iteration 1's output was fed back
    assert "area: function" in shown["messages"][1]["content"]  # and the var index lists the new function
    assert shown["messages"][0]["content"].startswith("You are envloop")
    history = json.loads(run_cli("history", "area", "--json").stdout)
    assert history[0]["author"] == "llm" and history[0]["turn_text"].startswith("What is the area")


def test_a_reply_without_code_is_the_answer(run_cli, tmp_path: Path) -> None:
    done, result = ask_json(run_cli, "--new", "--model", replay(tmp_path, "Paris is the capital of France."),
                            "Capital of France?")
    assert result["status"] == "done" and result["answer"] == "Paris is the capital of France."
    assert result["iterations"] == 1


def test_an_empty_reply_is_not_an_answer(run_cli, tmp_path: Path) -> None:
    done, result = ask_json(run_cli, "--new", "--model", replay(tmp_path, "", "Forty-two."), "Answer?")
    assert result["status"] == "done" and result["answer"] == "Forty-two." and result["iterations"] == 2
    second = json.loads(run_cli("inspect", "--json").stdout)["messages"][1]["content"]
    assert "Your previous reply was empty" in second


def test_an_error_is_fed_back_and_the_model_recovers(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, code("total = 10 / 0"), code("total = 10 / 2\nanswer(total)", "Oops, divide by 2."))
    done, result = ask_json(run_cli, "--new", "--model", model, "Half of ten?")
    assert result["status"] == "done" and result["answer"] == "5.0"
    second = json.loads(run_cli("inspect", "--iteration", "2", "--json").stdout)["messages"][1]["content"]
    assert "ZeroDivisionError" in second and "division by zero" in second


def test_budget_exhausted_keeps_the_best_partial_answer(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, code("x = 41\nx"), code("x = x + 1\nx"), code("never reached"))
    done, result = ask_json(run_cli, "--new", "--model", model, "--max-iterations", "2", "Count up")
    assert done.returncode == 3
    assert result["status"] == "budget_exhausted" and result["answer"] == "42" and result["iterations"] == 2
    last = json.loads(run_cli("inspect", "--json").stdout)["messages"][1]["content"]
    assert "LAST iteration" in last


def test_repeated_identical_errors_produce_a_nudge(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, code("undefined_name"), code("undefined_name"), code("answer('gave up')"))
    ask_json(run_cli, "--new", "--model", model, "Try")
    third = json.loads(run_cli("inspect", "--iteration", "3", "--json").stdout)["messages"][1]["content"]
    assert "The same error happened twice" in third


def test_resume_in_a_new_process_then_a_turn_uses_earlier_names(run_cli, tmp_path: Path) -> None:
    first = replay(tmp_path, code("rates = {'EUR': 1.1, 'GBP': 1.3}\nanswer('stored')"), name="one.json")
    ask_json(run_cli, "--new", "--model", first, "Remember these rates")
    second = replay(tmp_path, code("answer(round(100 * rates['GBP'], 2))"), name="two.json")
    done, result = ask_json(run_cli, "--continue", "--model", second, "Convert 100 GBP")
    assert result["status"] == "done" and result["answer"] == "130.0"
    prompt = json.loads(run_cli("inspect", "--json").stdout)["messages"][1]["content"]
    assert "rates: dict" in prompt and "Remember these rates" in prompt  # var index and journal


def test_without_a_model_the_error_says_how_to_configure_one(run_cli) -> None:
    done = run_cli("ask", "--new", "hello", env={"ENVLOOP_MODEL": "", "XDG_CONFIG_HOME": "/nonexistent"})
    assert done.returncode == 1
    assert "ENVLOOP_MODEL" in done.stderr and "ollama" in done.stderr.lower()
    assert len(done.stderr.strip().splitlines()) == 1


def test_empty_and_oversized_messages_are_refused(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, "unused")
    empty = run_cli("ask", "--new", "--model", model, "   ")
    assert empty.returncode == 1 and "empty" in empty.stderr
    big = run_cli("ask", "--new", "--model", model, "x" * 40_000)
    assert big.returncode == 1 and "too long" in big.stderr


def test_cancel_interrupts_a_running_block_and_keeps_state(tmp_path: Path, data_home: Path) -> None:
    model = replay(tmp_path, code("keep = 'before'"), code("while True:\n    pass"), code("answer('no')"))
    proc = subprocess.Popen(
        [ENVLOOP, "ask", "--new", "--json", "--model", model, "Spin"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    line = ""
    while "iteration 2" not in line and time.monotonic() < deadline:
        line = proc.stderr.readline()
    time.sleep(0.5)  # let the endless block start
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert json.loads(out)["status"] == "cancelled"
    after = subprocess.run([ENVLOOP, "run", "--json", "keep"], capture_output=True, text=True, cwd=tmp_path)
    assert json.loads(after.stdout)["result"] == "'before'"


@pytest.mark.parametrize("approve", [True, False])
def test_irreversible_extension_call_needs_approval(run_cli, tmp_path: Path, outbox_plugin, approve: bool) -> None:
    env, outbox = outbox_plugin.env, outbox_plugin.outbox
    model = replay(
        tmp_path,
        code("try:\n    status = send_message('ann', 'hi')\nexcept PermissionError as e:\n    status = f'refused: {e}'\nanswer(status)"),
    )
    args = ["ask", "--json", "--new", "--model", model, "Tell Ann hi"] + (["--yes"] if approve else [])
    done = run_cli(*args, env=env)
    result = json.loads(done.stdout)
    if approve:
        assert result["answer"] == "sent" and outbox.read_text() == "ann: hi"
    else:
        assert result["answer"].startswith("refused:") and "denied" in result["answer"]
        assert not outbox.exists()


def test_prompt_size_does_not_grow_with_iterations(tmp_path: Path) -> None:
    replies = [code(f"x = {i}\nnotes = 'step {i}'\nprint(x)") for i in range(40)]
    model = replay(tmp_path, *replies)
    with Envloop.open(str(tmp_path / "o1.db")) as app:
        result = app.send("Keep counting", new=True, model=model, max_iterations=30)
        assert result.status == "budget_exhausted" and result.iterations == 30
        with app.database.session() as session:
            from envloop.store.models import Iteration

            sent = {it.position: len(it.system_prompt.text) + len(it.prompt) for it in session.query(Iteration).all()}
    assert sent[30] <= 1.2 * sent[2]
    assert max(sent.values()) <= 1.2 * sent[2]  # no iteration in between grew either


def test_var_index_stays_within_its_budget_and_says_what_it_left_out(tmp_path: Path) -> None:
    many = "\n".join(f"value_{i} = {{'n': {i}, 'label': 'item number {i}'}}" for i in range(600))
    model = replay(tmp_path, code(many), code("answer('ok')"))
    with Envloop.open(str(tmp_path / "o2.db")) as app:
        app.send("Make many", new=True, model=model)
        with app.database.session() as session:
            from envloop.store.models import Iteration

            prompt = session.query(Iteration).filter_by(position=2).one().prompt
    index = prompt.split("# Var index\n", 1)[1].split("\n# ", 1)[0]
    assert len(index) <= BUDGETS["vars"] + 200
    assert "more names not shown" in index
    assert "print() a name" in prompt


REPLY_PIECES = st.sampled_from(
    ["```python\n", "```py\n", "```\n", "```json\n", "~~~\n", "answer(1)\n", "x = 1\n", "print('é')\n",
     "1/0\n", "def f(:\n", "plain prose ", "\n", "🙂", "```", "    ", "import os\n", "while False: pass\n"]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(replies=st.lists(st.lists(REPLY_PIECES, max_size=12).map("".join), min_size=1, max_size=3))
def test_fuzzed_replies_never_raise_out_of_the_engine(tmp_path_factory, replies: list[str]) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    model = replay(root, *replies)
    with Envloop.open(str(root / "f.db")) as app:
        result = app.send("anything", new=True, model=model, max_iterations=len(replies))
    assert result.status in {"done", "error", "budget_exhausted"}
