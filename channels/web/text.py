"""Text from the sandbox or the model, made safe to show: every value the templates print passes here.

Jinja's autoescape turns ``<script>`` and quotes into entities; this module
handles what escaping does not: terminal escapes and other control
characters (shown as their visible symbols, so ``\\x1b[2J`` is text, not a
cleared screen in a terminal someone pastes it into), bidirectional overrides
(which can make code read differently from what runs) and lone surrogates
(which cannot be encoded as UTF-8 at all and would break the response); all
shown as escapes a person can read.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from markupsafe import Markup

__all__ = ["diff_rows", "fold", "human_size", "scrub"]

FOLD_CHARS = 20_000  # outputs longer than this show their head and tail (the page stays responsive)

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␛ for ESC, ␍ for CR, …
    if code == 0x7F:
        return "\u2421"
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def scrub(value: Any) -> Any:
    """``value`` as text a page can show; the templates' ``finalize`` (before autoescape)."""
    if value is None or isinstance(value, Markup | bool | int | float):
        return "" if value is None else value
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_visible, text)


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return ""


def diff_rows(old: str, new: str, *, context: int = 3) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) rows, kind one of ``hunk``, ``del``, ``add``, ``same``."""
    rows: list[tuple[str, str]] = []
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context)
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "-": "del", "+": "add"}.get(line[:1], "same")
        rows.append((kind, line))
    return rows


def fold(text: str | None, limit: int = FOLD_CHARS) -> str:
    """A long output as its head and tail with a note of what is left out (all of it is in the database)."""
    if text is None:
        return ""
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 4
    return f"{text[:head]}\n… {len(text) - head - tail:,} characters not shown …\n{text[-tail:]}"
