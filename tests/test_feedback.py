"""What a model sees of its own work next iteration: numbered code, output, value, and tracebacks into its functions."""

from __future__ import annotations

import json
from pathlib import Path

from envloop.prompt import BUDGETS, BlockReport, Frame, PromptParts, build_messages

FENCE = "```"


def replay(tmp_path: Path, *replies: object, name: str = "replay.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


def code(source: str, prose: str = "Let me compute that.") -> str:
    return f"{prose}\n{FENCE}python\n{source}\n{FENCE}\n"


def second_prompt(run_cli) -> str:
    shown = json.loads(run_cli("inspect", "--iteration", "2", "--json").stdout)
    return shown["messages"][1]["content"]


def test_the_next_prompt_shows_the_code_and_a_traceback_through_the_functions(run_cli, tmp_path: Path) -> None:
    first = "def g(n):\n    return 1 / n\n\ndef h(n):\n    return g(n) + 1\n\nprint('start')\nh(0)"
    model = replay(tmp_path, code(first), code("answer(h(1))", "g divides by n; call with 1."))
    done = run_cli("ask", "--new", "--json", "--model", model, "h of zero?")
    assert json.loads(done.stdout)["answer"] == "2.0", done.stderr
    prompt = second_prompt(run_cli)
    assert "1 | def g(n):\n2 |     return 1 / n" in prompt  # the code, with the numbers the traceback uses
    assert "8 | h(0)" in prompt and "stdout:\nstart" in prompt
    assert "error: ZeroDivisionError: division by zero" in prompt
    trace = prompt[prompt.index("traceback (your code"):]
    assert trace.splitlines()[1:4] == ["  block, line 8: h(0)", "  h, line 5: return g(n) + 1",
                                       "  g, line 2: return 1 / n"]
    assert "envloop/" not in prompt and ".py" not in trace  # no host frames, no host paths


def test_a_function_from_an_earlier_turn_and_process_is_named_in_the_traceback(run_cli, tmp_path: Path) -> None:
    helper = replay(tmp_path, code("class Stack:\n    def __init__(self):\n        self.items = []\n"
                                   "    def pop(self):\n        return self.items.pop()\nanswer('ok')"), name="a.json")
    run_cli("ask", "--new", "--model", helper, "Make a stack")
    use = replay(tmp_path, code("s = Stack()\ns.pop()"), code("answer('empty')"), name="b.json")
    run_cli("ask", "--continue", "--model", use, "Pop it")  # a new process: Stack was restored from the DB
    trace = second_prompt(run_cli).split("traceback (your code, most recent call last):\n", 1)[1]
    assert trace.splitlines()[:2] == ["  block, line 2: s.pop()", "  Stack.pop, line 5: return self.items.pop()"]


def test_a_block_that_ran_cleanly_shows_its_code_value_and_output(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, code("xs = [3, 1, 2]\nprint(len(xs))\nsorted(xs)"), code("answer(xs)"))
    run_cli("ask", "--new", "--model", model, "Sort")
    prompt = second_prompt(run_cli)
    assert "[block 1]\ncode:\n1 | xs = [3, 1, 2]\n2 | print(len(xs))\n3 | sorted(xs)\nstdout:\n3\n" in prompt
    assert "value: [1, 2, 3]" in prompt


def test_repeated_errors_are_counted_in_the_nudge(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, *[code("undefined_name")] * 3, code("answer('gave up')"))
    run_cli("ask", "--new", "--model", model, "Try")
    fourth = json.loads(run_cli("inspect", "--iteration", "4", "--json").stdout)["messages"][1]["content"]
    assert "The same error happened 3 times in a row (NameError" in fourth


def _message(*reports: BlockReport) -> str:
    return build_messages("system", PromptParts("q", 2, 8, results=reports))[1]["content"]


def test_long_code_keeps_its_head_and_the_lines_around_the_error() -> None:
    source = "\n".join(f"value_{n} = {n} * 1000 + {n}  # a line of filler text to take space" for n in range(1, 301))
    report = BlockReport(source, "", None, "KeyError: 'x'", frames=[Frame("block", 250, "value_250 = ...")],
                         error_line=250)
    text = _message(report)
    assert "  1 | value_1 = 1000 + 1" not in text  # numbers are padded to the widest
    assert "  1 | value_1 = 1 * 1000 + 1" in text and "250 | value_250 = 250 * 1000 + 250" in text
    assert "not shown]" in text and "300 | value_300" not in text
    assert len(text) < BUDGETS["block_code"] + 1000


def test_many_blocks_stay_within_the_budget() -> None:
    big = "\n".join(f"x{n} = {n}" for n in range(2000))
    text = _message(*[BlockReport(big, "out" * 1000, "v" * 3000, None) for _ in range(30)])
    assert len(text) < BUDGETS["results"] + BUDGETS["code"] + 1000


def test_the_system_prompt_is_the_same_bytes_in_every_iteration_and_turn(run_cli, tmp_path: Path) -> None:
    run_cli("ask", "--new", "--model", replay(tmp_path, code("x = 1"), code("answer(x)"), name="a.json"), "One")
    run_cli("ask", "--continue", "--model", replay(tmp_path, code("y = 2"), code("answer(y)"), name="b.json"), "Two")
    systems = {json.loads(run_cli("inspect", "--turn", str(turn), "--iteration", str(it), "--json").stdout)
               ["messages"][0]["content"] for turn in (1, 2) for it in (1, 2)}
    assert len(systems) == 1 and next(iter(systems)).startswith("You are envloop")
