"""Start-up: `envloop --help` loads click and nothing of the engine; every command is reachable.

Timings are in bench/bench_startup.py; these tests check the structure that makes
start-up cheap, which a regression would break silently.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from click.testing import CliRunner

from envloop.channels.cli import _app, cli

HEAVY = ("sqlalchemy", "envloop.conversation", "envloop.store", "envloop.sandbox", "rich", "prompt_toolkit",
         "litellm", "telegram", "RestrictedPython")


def _modules_after(argv: list[str]) -> list[str]:
    probe = (
        "import json, sys\n"
        "from envloop.channels.cli import cli\n"
        f"try:\n    cli.main(args={argv!r}, prog_name='envloop')\n"
        "except SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_help_imports_nothing_of_the_engine() -> None:
    loaded = _modules_after(["--help"])
    heavy = [m for m in loaded if m.startswith(HEAVY)]
    assert heavy == [], f"envloop --help imported {heavy[:10]}"


def test_a_commands_help_loads_only_its_module() -> None:
    loaded = _modules_after(["vars", "--help"])
    assert "envloop.channels.cli.env_cmds" in loaded
    assert "envloop.channels.cli.telegram_cmds" not in loaded
    assert not [m for m in loaded if m.startswith(("sqlalchemy", "envloop.conversation"))]


def test_the_command_table_matches_what_the_modules_register() -> None:
    for module in {module for module, _ in _app.COMMANDS.values()}:
        importlib.import_module(f"envloop.channels.cli.{module}")
    registered = {name: cmd.callback.__module__ for name, cmd in cli.commands.items()}  # type: ignore[union-attr]
    assert set(registered) == set(_app.COMMANDS)
    for name, module in registered.items():
        assert module == f"envloop.channels.cli.{_app.COMMANDS[name][0]}", name


def test_help_lists_every_command_with_its_summary() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for name, (_, summary) in _app.COMMANDS.items():
        assert f"{name} " in out and summary.split()[0] in out, name


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2 and "No such command 'frobnicate'" in result.output


def test_console_script_exit_codes_and_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    envloop = [sys.executable, "-c", "from envloop.channels.cli import main; main()"]
    env = {"ENVLOOP_DB": str(tmp_path / "t.db"), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([*envloop, "run", "--new", "print('hi'); 6 * 7"], env=env, capture_output=True, text=True)
    assert (ok.returncode, ok.stdout) == (0, "hi\n42\n")
    bad = subprocess.run([*envloop, "run", "1/0"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "ZeroDivisionError" in bad.stderr
    usage = subprocess.run([*envloop, "nosuch"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2
