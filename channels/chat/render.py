"""Rendering a turn as it happens: spinner, thinking, blocks, definitions, answer, footer.

The engine's events arrive here one by one (on the main thread, see
``runner``), so the screen follows the turn live. Everything the model or the
sandbox produced is printed as rich ``Text`` — never parsed as markup — so an
output containing ``[red]`` shows as typed. Long outputs are folded: head and
tail are shown, the whole text is kept, and ``/show N`` prints it, so the
screen stays readable and nothing is lost.

Terminals that are not UTF-8 (``LC_ALL=C``) get ASCII: Python's UTF-8 mode
would otherwise make rich believe the terminal takes anything, so the locale
is read from the environment, and the console writes through
:class:`AsciiWriter`, which can never raise on a character it cannot encode.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.rule import Rule
from rich.segment import Segment
from rich.status import Status
from rich.syntax import Syntax
from rich.text import Text

from envloop.conversation import Event
from envloop.textsafe import TerminalGuard, for_terminal

__all__ = ["ASCII", "UNICODE", "AsciiWriter", "Glyphs", "View", "make_console", "terminal_is_utf8"]

FOLD_LINES = 24  # outputs with more lines than this are folded
FOLD_HEAD, FOLD_TAIL = 14, 5
FOLD_CHARS = 4000  # ... and so are outputs longer than this (a huge one-line repr)
STREAM_LINES = 12  # the newest lines of a reply shown live while it streams in


@dataclass(frozen=True)
class Glyphs:
    """The few non-letters the chat draws, in a Unicode and an ASCII flavour."""

    arrow: str
    dot: str
    ellipsis: str
    spinner: str


UNICODE = Glyphs("→", "·", "…", "dots")
ASCII = Glyphs("->", "-", "...", "line")

# One character for one, so rich's width arithmetic stays right after the swap.
_ASCII_TABLE = str.maketrans({
    "•": "*", "·": ".", "…": ".", "─": "-", "━": "-", "│": "|", "┃": "|", "→": ">", "←": "<", "—": "-",
    "–": "-", "“": '"', "”": '"', "‘": "'", "’": "'", "▌": "|", "✓": "v", "✗": "x", "\u00a0": " ",
})


def terminal_is_utf8(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the locale (LC_ALL, else LC_CTYPE, else LANG) names UTF-8; unset means the C locale."""
    env = os.environ if environ is None else environ
    for key in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = env.get(key)
        if value:
            return "utf8" in value.lower().replace("-", "").replace("_", "")
    return False


class AsciiWriter:
    """A text stream that reports ``ascii`` and turns what ASCII lacks into look-alikes or ``?``.

    rich reads ``encoding`` to choose ASCII boxes, tree guides and rules; the
    ``write`` guarantees that no model output can crash the chat with an
    encoding error.
    """

    encoding = "ascii"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        safe = text.translate(_ASCII_TABLE).encode("ascii", "replace").decode("ascii")
        return self._stream.write(safe)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class SafeConsole(Console):
    """A console that spells out control characters in the text it shows (``for_terminal``).

    Everything the chat shows (names, previews, sources, outputs, titles) is
    data a block or a model made; an escape sequence in it would retitle, clear
    or reprogram the terminal.  Rich's own control segments (cursor moves of the
    live display) and the colours it adds for styles pass unchanged.
    """

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        safe = (seg if seg.control else Segment(for_terminal(seg.text), seg.style) for seg in buffer)
        return super()._render_buffer(safe)


def make_console(stream: TextIO | None = None, *, utf8: bool | None = None,
                 width: int | None = None) -> tuple[Console, Glyphs]:
    """A console for the chat, ASCII-only unless the locale is UTF-8."""
    import sys

    stream = stream or sys.stdout
    stream = stream.stream if isinstance(stream, TerminalGuard) else stream  # SafeConsole does that job
    utf8 = terminal_is_utf8() if utf8 is None else utf8
    file: Any = stream if utf8 else AsciiWriter(stream)
    console = SafeConsole(file=file, highlight=False, emoji=False, width=width)
    return console, UNICODE if utf8 else ASCII


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


class View:
    """The chat's screen: messages, a spinner, folded outputs and the live rendering of turns."""

    def __init__(self, console: Console, glyphs: Glyphs = UNICODE) -> None:
        self.console = console
        self.g = glyphs
        self.folded: list[str] = []
        self._status: Status | None = None
        self._changes: list[Text] = []
        self._reply = ""  # the reply streamed so far this iteration, shown live under the spinner

    # -- plain output ------------------------------------------------------

    def print(self, *renderables: RenderableType) -> None:
        self.console.print(*renderables)

    def info(self, text: str) -> None:
        self.console.print(Text(text, style="dim"))

    def notice(self, text: str) -> None:
        self.console.print(Text(text, style="yellow"))

    def error(self, text: str) -> None:
        self.console.print(Text(f"Error: {text}", style="bold red"))

    def safe(self, text: str) -> str:
        """``text`` as this terminal can show it: for prompt-toolkit's output, and for messages
        from the core before rich measures them (``→`` becomes ``->``)."""
        if self.g is UNICODE:
            return text
        for glyph, ascii_text in (("→", "->"), ("…", "...")):
            text = text.replace(glyph, ascii_text)
        return text.translate(_ASCII_TABLE).encode("ascii", "replace").decode("ascii")

    def echo(self, prompt: str, line: str) -> None:
        """Show a line as if typed at the prompt (scripted input and the demo)."""
        self.console.print(Text(prompt, style="bold green") + Text(line))

    # -- spinner -------------------------------------------------------------

    @contextmanager
    def working(self, text: str) -> Iterator[None]:
        """A spinner for the duration of the block; nothing when the output is not a terminal."""
        if not self.console.is_terminal:
            yield
            return
        status = Status(Text(text, style="dim"), console=self.console, spinner=self.g.spinner)
        self._status = status
        status.start()
        try:
            yield
        finally:
            status.stop()
            self._status = None

    def status(self, text: str) -> None:
        if self._status is not None:
            self._status.update(Text(text, style="dim"))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the spinner while the person is asked something."""
        status = self._status
        if status is not None:
            status.stop()
        try:
            yield
        finally:
            if status is not None:
                status.start()

    # -- folding ---------------------------------------------------------------

    def fold(self, text: str, style: str = "") -> Text:
        """``text`` as is when short; else its head and tail with a hint, the whole kept for /show."""
        lines = text.splitlines()
        if len(lines) <= FOLD_LINES and len(text) <= FOLD_CHARS:
            return Text(text, style=style)
        self.folded.append(text)
        number = len(self.folded)
        if len(lines) > FOLD_LINES:
            head, tail = "\n".join(lines[:FOLD_HEAD]), "\n".join(lines[-FOLD_TAIL:])
            hidden = plural(len(lines) - FOLD_HEAD - FOLD_TAIL, "more line")
        else:
            head, tail = text[: FOLD_CHARS * 3 // 4], text[-FOLD_CHARS // 8:]
            hidden = plural(len(text) - len(head) - len(tail), "more character")
        if len(head) > FOLD_CHARS:  # very long lines as well as many of them
            head, tail = head[:FOLD_CHARS * 3 // 4], tail[-FOLD_CHARS // 8:]
        hint = Text(f"{self.g.ellipsis} {hidden} folded {self.g.dot} /show {number} shows all", style="dim italic")
        return Text.assemble(Text(head, style=style), "\n", hint, "\n", Text(tail, style=style))

    def show(self, number: int | None = None) -> None:
        """Print a folded output in full (default: the latest)."""
        if not self.folded:
            self.info("Nothing has been folded yet.")
            return
        index = len(self.folded) if number is None else number
        if not 1 <= index <= len(self.folded):
            self.error(f"no folded output {index} (1 to {len(self.folded)})")
            return
        self.console.print(Text(self.folded[index - 1]))

    # -- events ------------------------------------------------------------------

    def event(self, event: Event) -> None:
        """Render one engine event; kinds this view does not know are skipped."""
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event.data)

    def _on_waiting(self, data: dict[str, Any]) -> None:
        """Another process holds the conversation: say who, at once (Ctrl-C cancels the wait)."""
        self.notice(data["message"])
        self.status(f"waiting for the conversation{self.g.ellipsis}")

    def _on_turn_started(self, data: dict[str, Any]) -> None:
        self.status(f"waiting for the model{self.g.ellipsis}")

    def _on_iteration_started(self, data: dict[str, Any]) -> None:
        label = f"iteration {data['iteration']}/{data['max_iterations']}"
        self.console.print(Rule(Text(label, style="dim"), style="dim", align="left"))
        self._reply = ""
        self.status(f"the model is working ({label}){self.g.ellipsis}")

    def _on_model_delta(self, data: dict[str, Any]) -> None:
        """A piece of the reply: shown live under the spinner (the finished reply is then printed as usual)."""
        self._reply += data.get("text") or ""
        if self._status is None:
            return
        width = max(10, self.console.width - 4)
        lines = [line[:width] for line in self._reply[-STREAM_LINES * width:].splitlines()[-STREAM_LINES:]]
        live = Text("\n".join(lines), style="italic") + Text(f"\nthe model is writing{self.g.ellipsis}", style="dim")
        self._status.renderable.update(text=live)  # drawn by the spinner's own refresh, a few times a second

    def _on_model_broken(self, data: dict[str, Any]) -> None:
        text = (data.get("text") or "").strip()
        if text:
            self.console.print(self.fold(text, style="dim italic"))
        self._reply = ""

    def _on_model_reply(self, data: dict[str, Any]) -> None:
        self._reply = ""
        self.status(f"the model replied{self.g.ellipsis}")
        thinking = (data.get("thinking") or "").strip()
        if thinking:
            self.console.print(self.fold(thinking, style="dim italic"))

    def _on_block_started(self, data: dict[str, Any]) -> None:
        self._changes = []
        self.console.print(Text(f"block {data['position'] + 1}", style="bold blue"))
        self.console.print(self.code(data["source"]))
        self.status(f"running block {data['position'] + 1}{self.g.ellipsis}")

    def _on_definition_changed(self, data: dict[str, Any]) -> None:
        self._changes.append(self.change_line(data["name"], data["version"], data["kind"]))

    def _on_block_finished(self, data: dict[str, Any]) -> None:
        self.block_output(data.get("stdout") or "", data.get("result"), data.get("error"), data.get("limit"))
        for line in self._changes:
            self.console.print(line)
        for reason in data.get("not_stored") or ():  # over a size limit or not storable: said now, not at resume
            self.notice(reason)
        self._changes = []
        self.status(f"waiting for the model{self.g.ellipsis}")

    def _on_answer(self, data: dict[str, Any]) -> None:
        self.console.print()
        self.console.print(Markdown(data.get("answer") or ""))
        self.footer(data["result"])

    def _on_budget(self, data: dict[str, Any]) -> None:
        result = data["result"]
        self.notice(f"No answer after {plural(result.iterations, 'iteration')}; the best partial result:")
        if data.get("answer"):
            self.console.print(self.fold(data["answer"]))
        self.footer(result)

    def _on_error(self, data: dict[str, Any]) -> None:
        message = data.get("message") or data.get("status") or "error"
        if data.get("status") == "cancelled":
            self.notice(f"Turn cancelled ({message}).")
        else:
            self.console.print(Text(f"The turn failed: {message}", style="bold red"))
        self.footer(data["result"])

    # -- pieces ----------------------------------------------------------------

    def code(self, source: str, indent: int = 2) -> Syntax:
        """Python, highlighted, wrapped to the screen and no wider than its longest line."""
        source = source.rstrip()
        longest = max((len(line) for line in source.splitlines()), default=1)
        return Syntax(source, "python", theme="ansi_dark", background_color="default", word_wrap=True,
                      padding=(0, 0, 0, indent), code_width=max(1, min(longest, self.console.width - indent)))

    def change_line(self, name: str, version: int, kind: str) -> Text:
        """``total v3 → v4``: a definition the block changed."""
        if kind == "deleted":
            text = f"{name} deleted (v{version})"
        elif version == 1:
            text = f"{name} v1 (new)"
        else:
            text = f"{name} v{version - 1} {self.g.arrow} v{version}"
        return Text(f"  {text}", style="cyan")

    def block_output(self, stdout: str, result: str | None, error: str | dict[str, Any] | None,
                     limit: str | None) -> None:
        """What a block printed, its value, its error and any limit it hit."""
        if stdout:
            self.console.print(self.fold(stdout.rstrip("\n")))
        if result is not None:
            self.console.print(Text(f"{self.g.arrow} ", style="green") + self.fold(result, style="green"))
        if isinstance(error, dict):
            line = f" (line {error['line']})" if error.get("line") else ""
            error = f"{error.get('type', 'Error')}{line}: {error.get('message', '')}"
        if error:
            error = error.rstrip().removesuffix(":")  # an exception without a message
            self.console.print(self.fold(error, style="red"))
        if limit and not (error and limit in error):
            self.console.print(Text(f"limit hit: {limit}", style="red"))

    def footer(self, result: Any) -> None:
        """Iterations, tokens, cost and time of a finished turn, on one dim line."""
        cost = "cost unknown" if result.cost is None else f"${result.cost:.4f}"
        tokens = result.tokens_in + result.tokens_out
        parts = [plural(result.iterations, "iteration"), f"{tokens:,} tokens", cost,
                 f"{result.duration_ms / 1000:.1f} s"]
        self.console.print(Text(f" {self.g.dot} ".join(parts), style="dim"))
