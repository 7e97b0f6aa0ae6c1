"""What ``envloop ask`` shows on stderr while a turn works (stdout carries only the answer).

By default: the model's reply as it streams in (its thinking and its code),
then each block's output, value or error and the names it changed, the way
Open Interpreter and smolagents show their work.  ``--json`` keeps the older
one line per step; ``--quiet`` shows nothing but questions that need an answer.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import click

from envloop.conversation import Event

__all__ = ["Progress"]

Mode = Literal["full", "steps", "quiet"]


def _dim(text: str) -> None:
    click.echo(click.style(text, dim=True), err=True)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


class Progress:
    """The turn's ``on_event`` for ``ask``: renders each event as it arrives."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.streamed = False  # this iteration's reply arrived as a stream (already on screen)
        self.at_line_start = True
        self.changes: list[str] = []  # names a block changed, shown after its output

    def __call__(self, event: Event) -> None:
        if self.mode == "quiet":
            if event.kind in ("approval_needed", "waiting"):
                self._steps(event)
            return
        if self.mode == "steps":
            self._steps(event)
            return
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event.data)

    # -- one line per step (--json) ------------------------------------------------

    def _steps(self, event: Event) -> None:
        data = event.data
        lines = {
            "iteration_started": lambda: f"· iteration {data['iteration']}/{data['max_iterations']}",
            "block_finished": lambda: "  block {} {}".format(
                data["position"] + 1, "failed: " + data["error"].splitlines()[0] if data["error"] else "ran"
            ),
            "definition_changed": lambda: f"  {data['name']} v{data['version']}",
            "approval_needed": lambda: f"  {data['function']} asks for approval: {data['description']}",
            "waiting": lambda: f"  {data['message']}",
        }
        make = lines.get(event.kind)
        if make is not None:
            _dim(make())

    # -- the full view (default) ------------------------------------------------------

    def _write(self, text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()
        self.at_line_start = text.endswith("\n")

    def _line_break(self) -> None:
        if not self.at_line_start:
            self._write("\n")

    def _on_waiting(self, data: dict[str, Any]) -> None:
        _dim(data["message"])

    def _on_iteration_started(self, data: dict[str, Any]) -> None:
        self._line_break()
        self.streamed = False
        _dim(f"── iteration {data['iteration']}/{data['max_iterations']}")

    def _on_model_delta(self, data: dict[str, Any]) -> None:
        self.streamed = True
        self._write(data["text"])

    def _on_model_broken(self, data: dict[str, Any]) -> None:
        self._line_break()
        click.echo(click.style(f"(the reply broke off: {data['error']})", fg="red"), err=True)

    def _on_model_reply(self, data: dict[str, Any]) -> None:
        self._line_break()
        thinking = (data.get("thinking") or "").strip()
        if not self.streamed and thinking:
            _dim(thinking)

    def _on_block_started(self, data: dict[str, Any]) -> None:
        self.changes = []
        if not self.streamed:
            _dim(f"block {data['position'] + 1}")
            click.echo(_indent(data["source"]), err=True)

    def _on_block_finished(self, data: dict[str, Any]) -> None:
        if data.get("stdout"):
            click.echo(_indent(data["stdout"], "│ "), err=True)
        if data.get("result") is not None:
            click.echo(click.style(f"→ {data['result']}", fg="green"), err=True)
        if data.get("error"):
            for frame in data.get("traceback") or ():  # through the conversation's own code, outermost first
                _dim(f"  {frame}")
            click.echo(click.style(data["error"], fg="red"), err=True)
        if data.get("limit") and not (data.get("error") and data["limit"] in data["error"]):
            click.echo(click.style(f"limit hit: {data['limit']}", fg="red"), err=True)
        for line in self.changes:
            _dim(line)
        self.changes = []

    def _on_definition_changed(self, data: dict[str, Any]) -> None:
        deleted = " (deleted)" if data["kind"] == "deleted" else ""
        self.changes.append(f"  {data['name']} v{data['version']}{deleted}")

    def _on_approval_needed(self, data: dict[str, Any]) -> None:
        self._line_break()
        _dim(f"  {data['function']} asks for approval: {data['description']}")
