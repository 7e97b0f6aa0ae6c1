"""Split a model's Markdown reply into its reasoning and the Python blocks to run.

The protocol (DESIGN.md, "The LLM protocol is fenced code") is deliberately
the Markdown every model already writes, so parsing has to accept what models
really send rather than what they were asked for. The rules, CommonMark's
with a few lenient extras:

- A fence is three or more backticks or tildes at the start of a line; it may
  be indented or follow a list marker (``- ``, ``1. ``); it closes at a line
  of the same character, at least as long, and nothing else (so a
  four-backtick block may contain three-backtick lines). A backtick fence's
  tag may not contain a backtick (so ```` ```x``` ```` on one line is inline code).
- Blocks run when their tag is Python (``python``, ``py``, ``Python3``,
  ``ipython``, ``{python}``, ``python title="x"``...), empty, or unknown: a
  block the model meant to run but that was skipped would silently end the
  turn with code as the answer, while running a stray block costs one error
  message. Blocks tagged as clearly another language (``json``, ``text``,
  ``bash``, ``output``, ``pycon``...) do not run and stay in the thinking.
- An unclosed last fence runs to the end of the reply (a reply cut off by a
  token limit). If a proper closing fence never comes but a code line ends
  with the fence (```` x = 1``` ````), the block ends there.
- Code is dedented: first by the fence's own indentation (fences in lists),
  then by whatever indentation all its lines share.
- A reply that starts with ``<think>...</think>`` (reasoning models served
  raw, such as DeepSeek-R1 on Ollama) keeps that part as thinking only: code
  drafted while reasoning is not run.
- Blank blocks are dropped. CRLF and CR line endings are accepted.

:func:`parse_reply` never raises: a reply is data from outside.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

__all__ = ["ParsedReply", "parse_reply"]

_OPEN = re.compile(r"^(?P<indent>[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_CLOSE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*$")
_THINK = re.compile(r"^\s*<(think|thinking|reasoning)>(?P<inner>.*?)</\1>", re.DOTALL | re.IGNORECASE)
_TAG_SPLIT = re.compile(r"[\s{},:;=\"']+")
_PYTHON_TAG = re.compile(r"^(?:i?python\d*(?:\.\d+)*|py\d*|sage)?$")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")

#: Tags that clearly mean "not Python": shown as thinking, never run.
_OTHER_LANGUAGES = frozenset(
    ["text", "txt", "plain", "plaintext", "none", "nohighlight", "raw", "output", "out", "stdout", "stderr", "result", "results", "log", "logs", "console", "terminal", "shell", "sh", "bash", "zsh", "fish", "ksh", "csh", "tcsh", "shell-session", "sh-session", "shellsession", "powershell", "ps", "ps1", "pwsh", "bat", "batch", "cmd", "dos", "pycon", "python-repl", "pyrepl", "pytb", "python-traceback", "py-traceback", "traceback", "error", "errors", "exception", "json", "jsonc", "json5", "jsonl", "ndjson", "yaml", "yml", "toml", "ini", "cfg", "conf", "properties", "env", "dotenv", "xml", "html", "htm", "xhtml", "css", "scss", "sass", "less", "js", "javascript", "jsx", "mjs", "cjs", "ts", "typescript", "tsx", "node", "vue", "svelte", "sql", "mysql", "postgresql", "postgres", "psql", "sqlite", "plsql", "tsql", "graphql", "gql", "md", "markdown", "rst", "asciidoc", "adoc", "org", "tex", "latex", "math", "katex", "bibtex", "typst", "csv", "tsv", "diff", "patch", "udiff", "c", "h", "cpp", "c++", "cc", "cxx", "hpp", "cs", "csharp", "c#", "java", "kotlin", "kt", "scala", "groovy", "gradle", "go", "golang", "rust", "rs", "ruby", "rb", "php", "perl", "pl", "r", "julia", "jl", "lua", "swift", "objc", "objective-c", "dart", "haskell", "hs", "elixir", "ex", "exs", "erlang", "clojure", "clj", "lisp", "elisp", "scheme", "racket", "ocaml", "ml", "fsharp", "f#", "fortran", "matlab", "octave", "vb", "vba", "vbnet", "asm", "nasm", "assembly", "wasm", "zig", "nim", "awk", "sed", "vim", "viml", "coffee", "coffeescript", "solidity", "dockerfile", "docker", "makefile", "make", "cmake", "nginx", "apache", "terraform", "hcl", "nix", "mermaid", "plantuml", "dot", "graphviz", "svg", "regex", "http", "jinja", "jinja2", "django", "handlebars"]
)


@dataclass(frozen=True)
class ParsedReply:
    """A reply split in two: the model's reasoning (kept and shown) and the code it wants run."""

    thinking: str  # text outside Python blocks, stripped; other-language blocks stay in it verbatim
    blocks: list[str] = field(default_factory=list)  # each Python block's code, in order


def parse_reply(text: str) -> ParsedReply:
    """Thinking and Python blocks of a model reply; never raises (see the module docstring for the rules)."""
    if not isinstance(text, str):
        return ParsedReply("", [])
    try:
        return _parse(text)
    except Exception:  # a bug here must not end a turn; the fuzz tests exercise _parse directly
        return ParsedReply(text.strip(), [])


def _parse(text: str) -> ParsedReply:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reasoning = ""
    think = _THINK.match(text)
    if think:
        reasoning, text = think.group("inner").strip(), text[think.end():]
    lines = text.split("\n")
    prose: list[str] = []
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        opened = _OPEN.match(lines[i])
        if opened is None or (opened["fence"][0] == "`" and "`" in opened["info"]):
            prose.append(lines[i])
            i += 1
            continue
        body_end, resume, last_line = _find_close(lines, i + 1, opened["fence"])
        if _is_python(opened["info"]):
            body = lines[i + 1:body_end] + ([last_line] if last_line is not None else [])
            code = _dedent(body, len(opened["indent"]))
            if code.strip():
                blocks.append(code)
            prose.append("")
        else:
            prose.extend(lines[i:resume])
        i = resume
    thinking = "\n\n".join(part for part in (reasoning, "\n".join(prose).strip()) if part)
    return ParsedReply(_MANY_BLANK_LINES.sub("\n\n", thinking).strip(), blocks)


def _find_close(lines: list[str], start: int, fence: str) -> tuple[int, int, str | None]:
    """Where a block's code ends: (end of body, next line to read, a trimmed last code line or None).

    A proper closing fence wins; failing that, a code line ending with the
    fence closes the block (that line, minus the fence, is code); failing
    that, the block runs to the end.
    """
    char, length = fence[0], len(fence)
    for j in range(start, len(lines)):
        closing = _CLOSE.match(lines[j])
        if closing and closing["fence"][0] == char and len(closing["fence"]) >= length:
            return j, j + 1, None
    for j in range(start, len(lines)):
        stripped = lines[j].rstrip()
        code = stripped[: -len(fence)]
        if stripped.endswith(fence) and code.strip() and not code.endswith(char):
            return j, j + 1, code
    return len(lines), len(lines), None


def _is_python(info: str) -> bool:
    """True unless the fence's tag clearly names another language."""
    words = _TAG_SPLIT.split(info.strip().lstrip("{.").strip())
    tag = words[0].lower() if words else ""
    tag = tag.removeprefix("language-").removeprefix("lang-").lstrip(".")
    if _PYTHON_TAG.match(tag):
        return True
    return tag not in _OTHER_LANGUAGES


def _dedent(body: list[str], fence_indent: int) -> str:
    """Code lines without the fence's indentation or a margin they all share; outer blank lines dropped."""
    lines = [_strip_up_to(line, fence_indent) for line in body]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    margins = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    common = os.path.commonprefix(margins) if margins else ""
    if common:
        lines = [line[len(common):] if line.startswith(common) else line.lstrip(" \t") for line in lines]
    return "\n".join(lines)


def _strip_up_to(line: str, width: int) -> str:
    """Remove at most ``width`` leading spaces or tabs (CommonMark's rule for indented fences)."""
    cut = 0
    while cut < width and cut < len(line) and line[cut] in " \t":
        cut += 1
    return line[cut:]
