"""Text from the sandbox, made safe for the place it goes: a terminal, a file, a chat, a comment.

Everything a block produces (printed output, names, reprs, error messages,
answers) is text a model or a person chose, and ends up in places that give
some characters power:

* a lone surrogate (``chr(0xd800)``) is a valid ``str`` but cannot be encoded
  as UTF-8: printing it, writing it to a file or sending it to Telegram raises;
* escape sequences (``ESC ] 0 ; title BEL``, ``ESC [ 2 J``, C1 controls) retitle,
  clear or reprogram the terminal that shows them;
* a carriage return ends a line for Python's tokenizer, so in a ``# comment`` it
  starts a line of code;
* HTML and ``javascript:`` links in Markdown run in whoever opens the export.

Each helper here neutralises one of those, visibly: an escape becomes its
``\\x1b`` spelling, so nothing silently disappears.
"""

from __future__ import annotations

import html
import re
import typing

__all__ = ["TerminalGuard", "for_comment_lines", "for_markdown", "for_terminal", "unicode_safe"]

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls except TAB and LF, DEL, C1 controls, and the bidirectional overrides
# that make text read differently from what it is (Trojan Source).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_NO_NEWLINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_PY_LINE_BREAKS = re.compile("\r\n|\r|\n|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_SCRIPT_SCHEMES = re.compile(r"(?i)\b(javascript|vbscript|data)(\s*):")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def unicode_safe(text: str) -> str:
    """``text`` with each lone surrogate spelled ``\\udXXX``: encodable as UTF-8, nothing lost from view."""
    if type(text) is not str:
        text = str(text)
    return _SURROGATES.sub(_escape, text) if _SURROGATES.search(text) else text


def for_terminal(text: str, *, newlines: bool = True) -> str:
    """For a terminal or a chat message: control and escape characters spelled out, no surrogates.

    ``newlines=False`` also spells out line feeds (a table cell is one line).
    """
    text = unicode_safe(text)
    pattern = _CONTROLS if newlines else _CONTROLS_NO_NEWLINE
    return pattern.sub(_escape, text)


def for_comment_lines(text: str) -> list[str]:
    """``text`` as lines that are safe after a ``#``: split at every break Python or an editor sees.

    Python's tokenizer ends a line at CR as well as LF, so ``'x' + chr(13) + 'import os'`` in a
    single "line" of comment would be code.  Each piece is also stripped of other controls.
    """
    return [for_terminal(line) for line in _PY_LINE_BREAKS.split(text)]


def for_markdown(text: str) -> str:
    """Prose for Markdown/notebook cells: HTML escaped, script links broken, controls spelled out."""
    text = html.escape(for_terminal(text), quote=False)
    return _SCRIPT_SCHEMES.sub(lambda m: f"{m.group(1)}\u200b{m.group(2)}:", text)


# An SGR sequence (colours, bold): the one escape a CLI's own styling uses and that cannot
# move the cursor, clear the screen, retitle the window or write the clipboard.
_TERMINAL_UNSAFE = re.compile("\x1b\\[[0-9;]{0,32}m|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _keep_sgr(match: re.Match[str]) -> str:
    text = match.group()
    return text if len(text) > 1 else _escape(match)


class TerminalGuard:
    """A text stream wrapper for a terminal: every control character but TAB, LF and colour codes spelled out.

    Installed over ``sys.stdout``/``sys.stderr`` by the command line when they are
    terminals, so no command can forget it: a name, preview or printed line a block made
    cannot retitle, clear or reprogram the terminal (OSC and CSI sequences survive click's
    colour stripping).  Surrogates are written as ``\\udXXX``.
    """

    def __init__(self, stream: typing.TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # a text stream refuses bytes (click probes with b"")
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.stream.write(_TERMINAL_UNSAFE.sub(_keep_sgr, unicode_safe(text)))
        return len(text)

    def __getattr__(self, name: str) -> typing.Any:
        return getattr(self.stream, name)
