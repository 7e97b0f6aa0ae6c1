"""The README's promises: exactly two set-up commands, and CI runs the test one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert all("--require-hashes" in c for c in commands)
    assert commands[0].endswith("envloop chat")  # the first one starts the main job


def test_ci_runs_the_readme_test_command_after_system_packages_only() -> None:
    """.ci/run may install system packages (apt-get) first; its one command after that is the README's."""
    test_command = _setup_commands()[1]
    script = (ROOT / ".ci" / "run").read_text()
    ci_lines = [
        line
        for line in script.splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert ci_lines[-1] == test_command
    assert test_command.rstrip().endswith("pytest")
    before = "\n".join(ci_lines[:-1])
    assert "pip" not in before and "pytest" not in before  # nothing but system packages comes first
    assert script.count(test_command) == 1


def test_lock_files_pin_a_known_good_litellm() -> None:
    for name in ("requirements.lock", "requirements-dev.lock"):
        pins = re.findall(r"^litellm==(\S+)", (ROOT / name).read_text(), flags=re.M)
        assert pins and pins[0] not in {"1.82.7", "1.82.8"}


def test_readme_documents_every_allowed_import() -> None:
    from envloop.sandbox.modules import ALLOWED_MODULES

    section = (ROOT / "README.md").read_text().split("## The sandbox", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([\w.]+)`", section))
    assert documented >= ALLOWED_MODULES, sorted(ALLOWED_MODULES - documented)
