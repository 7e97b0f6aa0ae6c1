"""``envloop run`` as a user meets it: REPL state, the JSON shape, exit codes, limits, restore after a kill."""

from __future__ import annotations

import json


def test_repl_state_and_json_shape(run_cli) -> None:
    first = run_cli("run", "--new", "--json", "x = 1\ndef double(v):\n    return 2 * v\nprint('set')")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == {"conversation_id", "ok", "stdout", "result", "error", "limit", "names", "not_stored",
                         "duration_ms"}
    assert data["ok"] and data["stdout"] == "set\n" and data["error"] is None and data["limit"] is None
    assert sorted(data["names"]) == ["double", "x"]
    second = json.loads(run_cli("run", "--json", "double(x + 1)").stdout)
    assert second["result"] == "4" and second["conversation_id"] == data["conversation_id"]


def test_plain_output_and_exit_code_1_when_the_block_raises(run_cli) -> None:
    ok = run_cli("run", "--new", "print('hello')\n6 * 7")
    assert ok.returncode == 0 and ok.stdout == "hello\n42\n"
    bad = run_cli("run", "def f():\n    return 1 / 0\nf()")
    assert bad.returncode == 1
    assert "ZeroDivisionError (line 2): division by zero" in bad.stderr
    data = json.loads(run_cli("run", "--json", "undefined_name").stdout)
    assert data["error"]["type"] == "NameError" and data["error"]["line"] == 1


def test_timeout_exits_3_and_the_namespace_is_restored(run_cli) -> None:
    run_cli("run", "--new", "kept = [1, 2, 3]")
    spin = run_cli("run", "--json", "--timeout", "1", "while True:\n    pass")
    assert spin.returncode == 3
    data = json.loads(spin.stdout)
    assert data["limit"] == "timeout" and data["error"]["type"] == "TimeoutError"
    assert "restored" in data["error"]["message"]
    env_timeout = run_cli("run", "--json", "while True:\n    pass", env={"ENVLOOP_TIMEOUT": "1"})
    assert env_timeout.returncode == 3
    assert json.loads(run_cli("run", "--json", "kept").stdout)["result"] == "[1, 2, 3]"


def test_memory_and_output_limits_exit_3(run_cli) -> None:
    memory = run_cli("run", "--new", "--json", "s = 'a' * 10**10")
    assert memory.returncode == 3 and json.loads(memory.stdout)["limit"] == "memory"
    flood = run_cli("run", "--json", "while True:\n    print('x' * 1000)")
    assert flood.returncode == 3
    data = json.loads(flood.stdout)
    assert data["limit"] == "output" and len(data["stdout"]) <= 65536 + 100


def test_code_from_stdin_and_help_mentions_exit_codes(run_cli) -> None:
    done = run_cli("run", "--new", "-", input="total = sum(range(10))\ntotal\n")
    assert done.returncode == 0 and done.stdout.strip() == "45"
    helptext = run_cli("run", "--help").stdout
    assert "--timeout" in helptext and "ENVLOOP_TIMEOUT" in helptext and "3 when a limit" in helptext


def test_unknown_conversation_is_a_one_line_error(run_cli) -> None:
    done = run_cli("run", "--conversation", "42", "1")
    assert done.returncode == 1 and done.stderr.strip() == "Error: no conversation 42"
