"""Telegram HTML: escaping, answers with code in <pre>, splitting under the message limit, status lines.

Telegram's HTML parse mode accepts a few tags and the entities ``&lt; &gt;
&amp;``; anything else is a 400 error, and a message may hold at most 4,096
characters (UTF-16 code units). Text is therefore built as *spans* (plain,
bold, italic, inline code, pre) and rendered to HTML by :func:`split_html`,
which escapes every character, measures the rendered size in UTF-16, and cuts
into messages — preferring a line break, re-opening a ``<pre>`` cut in two —
so every message is valid HTML on its own.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from envloop.textsafe import for_terminal

__all__ = [
    "LIMIT",
    "Progress",
    "Span",
    "answer_messages",
    "escape",
    "final_status",
    "footer",
    "spans_from_markdown",
    "split_html",
]

#: Telegram allows 4,096; a margin keeps us clear of counting differences.
LIMIT = 4000

_FENCE = re.compile(r"^```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_LANG = re.compile(r"^[\w+#.-]{1,30}$")


def escape(text: str) -> str:
    """Escape for Telegram HTML (quotes need no escaping outside attributes).

    Control characters and lone surrogates from sandbox data are spelled out first
    (``for_terminal``): Telegram refuses a message it cannot encode, and a client
    shows bidi overrides and escapes as they are.
    """
    return html.escape(for_terminal(text), quote=False)


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Span:
    """A run of text in one style: "" plain, "b", "i", "code", "pre", or "pre:LANG"."""

    text: str
    style: str = ""


def _tags(style: str) -> tuple[str, str]:
    if not style:
        return "", ""
    if style.startswith("pre:"):
        return f'<pre><code class="language-{escape(style[4:])}">', "</code></pre>"
    return f"<{style}>", f"</{style}>"


def spans_from_markdown(text: str) -> list[Span]:
    """Fenced blocks become pre spans (with their language), `inline code` code spans, the rest plain."""
    spans: list[Span] = []
    position = 0
    for match in _FENCE.finditer(text):
        spans.extend(_prose(text[position:match.start()]))
        lang = match.group(1)
        code = match.group(2).rstrip("\n")
        if code:
            spans.append(Span(code, f"pre:{lang}" if lang and _LANG.match(lang) else "pre"))
        position = match.end()
    spans.extend(_prose(text[position:]))
    return spans


def _prose(text: str) -> list[Span]:
    spans, position = [], 0
    for match in _INLINE.finditer(text):
        spans.append(Span(text[position:match.start()]))
        spans.append(Span(match.group(1), "code"))
        position = match.end()
    spans.append(Span(text[position:]))
    return [s for s in spans if s.text]


def split_html(spans: list[Span], limit: int = LIMIT) -> list[str]:
    """Render spans to HTML messages of at most ``limit`` UTF-16 units each, cutting at line breaks when it can."""
    atoms = [(escape(ch), span.style) for span in spans for ch in span.text]
    sizes = [_u16(text) for text, _ in atoms]
    messages: list[str] = []
    start = 0
    while start < len(atoms):
        while start < len(atoms) and not atoms[start][1] and atoms[start][0].isspace():
            start += 1  # a message never starts with blank plain text
        if start >= len(atoms):
            break
        end = _fit(atoms, sizes, start, limit)
        if end < len(atoms):
            newline = max((i for i in range(start, end) if atoms[i][0] == "\n"), default=None)
            if newline is not None and newline + 1 - start > (end - start) // 2:
                end = newline + 1
        rendered = _render(atoms[start:end])
        if rendered.strip():
            messages.append(rendered)
        start = end
    return messages


def _fit(atoms: list[tuple[str, str]], sizes: list[int], start: int, limit: int) -> int:
    """The end of the longest run from ``start`` whose rendering (tags included) fits in ``limit``."""
    size, style = 0, ""
    for index in range(start, len(atoms)):
        atom_style = atoms[index][1]
        extra = sizes[index]
        if atom_style != style:
            extra += _u16(_tags(style)[1]) + _u16(_tags(atom_style)[0])
        if size + extra + _u16(_tags(atom_style)[1]) > limit and index > start:
            return index
        size, style = size + extra, atom_style
    return len(atoms)


def _render(atoms: list[tuple[str, str]]) -> str:
    while atoms and not atoms[-1][1] and atoms[-1][0].isspace():
        atoms = atoms[:-1]
    parts, style = [], ""
    for text, atom_style in atoms:
        if atom_style != style:
            parts.append(_tags(style)[1] + _tags(atom_style)[0])
            style = atom_style
        parts.append(text)
    parts.append(_tags(style)[1])
    return "".join(parts)


# -- turns -------------------------------------------------------------------------


def footer(result: Any) -> str:
    """One line under an answer: turn, iterations, time, tokens, cost."""
    cost = "cost unknown" if result.cost is None else f"${result.cost:.4f}"
    plural = "" if result.iterations == 1 else "s"
    return (f"turn {result.turn} · {result.iterations} iteration{plural} · {result.duration_ms / 1000:.1f} s · "
            f"{result.tokens_in:,}+{result.tokens_out:,} tokens · {cost}")


def answer_messages(result: Any, *, stopping: bool = False) -> list[str]:
    """The messages that carry a turn's outcome: the answer (or what went wrong) and the footer."""
    spans: list[Span]
    if result.status == "done":
        spans = spans_from_markdown(result.answer or "(an empty answer)")
    elif result.status == "budget_exhausted":
        spans = [Span(f"I ran out of iterations ({result.iterations}) before a final answer.", "b")]
        if result.answer:
            spans += [Span("\nThe best partial answer:\n\n"), *spans_from_markdown(result.answer)]
    elif result.status == "cancelled":
        why = "the bot is stopping; send it again when it is back" if stopping else "cancelled"
        spans = [Span(f"⏹ This turn was cancelled ({why}).", "b")]
    else:
        spans = [Span("⚠️ The turn failed: ", "b"), Span(result.error or result.status)]
    return split_html([*spans, Span("\n\n"), Span(footer(result), "i")])


def final_status(result: Any) -> str:
    """What the status message says once the turn is over."""
    marks = {"done": "✅ Answered", "budget_exhausted": "⚠️ Out of iterations", "cancelled": "⏹ Cancelled"}
    head = marks.get(result.status, "⚠️ Failed")
    plural = "" if result.iterations == 1 else "s"
    return f"<b>{head}</b> · {result.iterations} iteration{plural} · {result.duration_ms / 1000:.1f} s"


#: Characters of a streaming reply the status message shows (its newest part).
REPLY_TAIL = 700


@dataclass
class Progress:
    """What the status message shows while a turn runs, folded from the engine's events."""

    iteration: int = 0
    max_iterations: int = 0
    activity: str = "starting"
    names: dict[str, str] = field(default_factory=dict)  # name -> "v3" or "deleted"
    errors: int = 0
    reply: str = ""  # the model's reply so far, while it streams in

    def apply(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "iteration_started":
            self.iteration, self.max_iterations = data["iteration"], data["max_iterations"]
            self.activity, self.reply = "asking the model", ""
        elif kind == "waiting":
            self.activity = data["message"]
        elif kind == "model_delta":
            self.activity = "the model is writing"
            self.reply += data.get("text") or ""
        elif kind == "model_broken":
            self.activity, self.reply = "the reply broke off", ""
        elif kind == "model_reply":
            self.reply = ""
            blocks = data.get("blocks", 0)
            self.activity = f"the model wrote {blocks} block{'' if blocks == 1 else 's'}" if blocks else "answering"
        elif kind == "block_started":
            self.activity = f"running block {data['position'] + 1}"
        elif kind == "block_finished":
            self.errors += 1 if data.get("error") else 0
            self.activity = f"block {data['position'] + 1} " + ("failed" if data.get("error") else "ran")
        elif kind == "definition_changed":
            self.names.pop(data["name"], None)
            self.names[data["name"]] = "deleted" if data["kind"] == "deleted" else f"v{data['version']}"
        elif kind == "approval_needed":
            self.activity = f"waiting for your approval of {data['function']}"

    def html(self) -> str:
        step = f" · iteration {self.iteration}/{self.max_iterations}" if self.iteration else ""
        lines = [f"⏳ <b>Working</b>{step}", escape(self.activity) + "…"]
        if self.names:
            shown = list(self.names.items())[-8:]
            more = len(self.names) - len(shown)
            names = ", ".join(f"{name} {version}" for name, version in shown) + (f" (+{more})" if more else "")
            lines.append("names: " + escape(names))
        if self.errors:
            lines.append(f"{self.errors} block error{'s' if self.errors != 1 else ''} so far")
        if self.reply.strip():
            tail = self.reply.strip()
            tail = tail if len(tail) <= REPLY_TAIL else "…" + tail[-REPLY_TAIL:]
            lines.append(f"<i>{escape(tail)}</i>")
        return "\n".join(lines)
