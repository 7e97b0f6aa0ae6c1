"""Prompt assembly: the one function that builds what the model sees each iteration.

The context is O(1) in the number of iterations (DESIGN.md §2): every
iteration sends the same system prompt (cacheable, no timestamps) and ONE
user message built from bounded parts —

    the query · a journal of recent turns · the var index · the previous
    iteration's thinking and block results · nudges

— each cut to a fixed budget of characters, saying what it left out.  The
iteration engine and ``envloop inspect`` both call :func:`build_messages`, so
what inspect shows is exactly what was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "BUDGETS",
    "BlockReport",
    "Frame",
    "JournalEntry",
    "PromptParts",
    "VarLine",
    "build_messages",
    "estimate_tokens",
    "system_prompt",
    "with_instructions",
]

# Characters per part.  A token is ~4 characters, so the whole message stays
# under ~6k tokens however long the turn or the conversation.
BUDGETS = {
    "query": 8000,
    "journal": 2400,
    "vars": 3200,
    "thinking": 1600,
    "results": 4800,
    "block_output": 1600,
    "code": 4000,  # all blocks' code, numbered; each block gets its share, at most block_code
    "block_code": 2400,
}

_SYSTEM = """\
You are envloop, a careful assistant that answers by running Python in a persistent REPL.

How to work:
- Write Python in fenced blocks: ```python ... ```. Each block runs in order, in this \
conversation's namespace; names you define stay defined in later blocks, iterations and turns.
- Text outside the blocks is your thinking; keep it short.
- You see each block's code (numbered lines), printed output, the value of its last expression, and \
any error with its traceback through your own code, in the next message. Print what you need to \
look at; long output is cut.
- When you know the answer, call answer(value) in a block; that ends the turn with that value. \
A reply with no code block is itself the final answer.
- The var index lists the names already defined (name, type, size, preview), newest first. Reuse \
them instead of recomputing; inspect one with print() when its preview is not enough.
- Never invent data, results or file contents. If something cannot be computed or found, say so.
- The sandbox allows a standard set of modules (math, statistics, random, re, json, datetime, \
collections, itertools, functools, decimal, fractions, string, textwrap, difflib, hashlib, base64, \
csv, dataclasses, ...); no network, no files except through the functions below.
- save_artifact(name, data, media_type=None) stores a str or bytes output as a named, versioned \
artifact; load_artifact(name, version=None) reads one back.
"""


@dataclass(frozen=True)
class VarLine:
    name: str
    type_name: str
    size: int | None
    preview: str
    lost: bool = False
    stale: str | None = None  # why it derives from a version that has changed since (envloop.stale)


@dataclass(frozen=True)
class JournalEntry:
    turn: int
    text: str
    answer: str | None
    status: str


@dataclass(frozen=True)
class Frame:
    """One frame of the conversation's own code in a traceback: ``block`` or a function name."""

    where: str
    line: int | None
    text: str = ""


@dataclass(frozen=True)
class BlockReport:
    """What the model sees of one block it wrote: its code, what it printed, its value, its error."""

    source: str
    stdout: str
    result: str | None
    error: str | None
    limit: str | None = None
    frames: Sequence[Frame] = ()  # outermost first; only frames of the conversation's code
    error_line: int | None = None  # the block's own line the error passed through


@dataclass
class PromptParts:
    """Everything one iteration's message is made of (each part bounded by BUDGETS)."""

    query: str
    iteration: int
    max_iterations: int
    journal: Sequence[JournalEntry] = ()
    variables: Sequence[VarLine] = ()
    thinking: str = ""
    results: Sequence[BlockReport] = ()
    nudges: list[str] = field(default_factory=list)


def system_prompt(extension_docs: str = "") -> str:
    """The system prompt: the same text every iteration, so providers can cache it."""
    if not extension_docs.strip():
        return _SYSTEM
    return _SYSTEM + "\nMore functions you can call from code:\n" + extension_docs.strip() + "\n"


def estimate_tokens(text: str) -> int:
    """A provider-neutral estimate (about 4 characters a token)."""
    return (len(text) + 3) // 4


def _cut(text: str, budget: int, what: str = "characters") -> str:
    if len(text) <= budget:
        return text
    head = budget * 2 // 3
    tail = budget - head
    return f"{text[:head]}\n… [{len(text) - budget} {what} cut] …\n{text[-tail:]}"


def _journal(entries: Sequence[JournalEntry]) -> str:
    lines: list[str] = []
    used = 0
    for entry in reversed(entries):  # newest first, so the budget keeps the most recent
        answer = (entry.answer or "").replace("\n", " ")
        line = f"- turn {entry.turn} ({entry.status}): {entry.text.strip()[:200]!r} → {answer[:200]!r}"
        if used + len(line) > BUDGETS["journal"]:
            lines.append(f"- … {len(entries) - len(lines)} earlier turns not shown")
            break
        lines.append(line)
        used += len(line)
    return "\n".join(reversed(lines))


def _var_index(variables: Sequence[VarLine]) -> tuple[str, bool]:
    lines: list[str] = []
    used = 0
    for var in variables:
        size = f", {var.size} B" if var.size is not None else ""
        lost = " [LOST: could not be stored, redefine it]" if var.lost else ""
        lost += f" [STALE: {var.stale}; recompute it before relying on it]" if var.stale else ""
        line = f"{var.name}: {var.type_name}{size} = {var.preview.replace(chr(10), ' ')[:120]}{lost}"
        if used + len(line) > BUDGETS["vars"]:
            lines.append(f"… and {len(variables) - len(lines)} more names not shown (older ones)")
            return "\n".join(lines), True
        lines.append(line)
        used += len(line)
    return "\n".join(lines), False


def _numbered(source: str, budget: int, focus: int | None) -> str:
    """The block's lines numbered like its traceback; past ``budget``, the head and the lines around ``focus``."""
    lines = source.rstrip("\n").splitlines()
    width = len(str(len(lines)))
    numbered = [f"{n:>{width}} | {_cut_line(line)}".rstrip() for n, line in enumerate(lines, 1)]
    if sum(len(line) + 1 for line in numbered) <= budget:
        return "\n".join(numbered)
    keep: list[int] = []
    window = range(max(0, (focus or 0) - 4), min(len(lines), (focus or 0) + 3)) if focus else range(0)
    used = sum(len(numbered[i]) + 1 for i in window)
    for i in range(len(lines)):
        if i in window or used + len(numbered[i]) + 1 > budget:
            break
        keep.append(i)
        used += len(numbered[i]) + 1
    keep.extend(i for i in window if i not in keep and used <= budget)
    out: list[str] = []
    for previous, i in zip([-1, *keep], keep, strict=False):
        if i != previous + 1:
            out.append(f"{'':>{width}} … [lines {previous + 2}-{i} not shown]")
        out.append(numbered[i])
    last = keep[-1] if keep else -1
    if last < len(lines) - 1:
        out.append(f"{'':>{width}} … [lines {last + 2}-{len(lines)} not shown]")
    return "\n".join(out)


def _cut_line(line: str, cap: int = 240) -> str:
    return line if len(line) <= cap else line[: cap - 1] + "…"


def _traceback(frames: Sequence[Frame]) -> str:
    lines = ["traceback (your code, most recent call last):"]
    for frame in frames:
        line = f", line {frame.line}" if frame.line is not None else ""
        text = f": {frame.text}" if frame.text else ""
        lines.append(f"  {frame.where}{line}{text}")
    return "\n".join(lines)


def _results(results: Sequence[BlockReport]) -> str:
    parts = []
    per_block = max(400, BUDGETS["results"] // max(1, len(results)))
    per_code = max(400, min(BUDGETS["block_code"], BUDGETS["code"] // max(1, len(results))))
    for i, block in enumerate(results, 1):
        out = [f"[block {i}]", "code:\n" + _numbered(block.source, per_code, block.error_line)]
        if block.stdout:
            out.append("stdout:\n" + _cut(block.stdout, min(per_block, BUDGETS["block_output"])))
        if block.result is not None:
            out.append("value: " + _cut(block.result, per_block // 2))
        if block.error:
            out.append("error: " + _cut(block.error, per_block // 2))
            if block.frames:
                out.append(_cut(_traceback(block.frames), per_block // 2))
        if block.limit:
            out.append(f"limit hit: {block.limit}")
        if len(out) == 2:
            out.append("(ran, no output)")
        parts.append("\n".join(out))
    return _cut("\n\n".join(parts), BUDGETS["results"] + BUDGETS["code"])


def build_messages(system: str, parts: PromptParts) -> list[dict[str, str]]:
    """The exact messages for one iteration: the system prompt and one bounded user message."""
    sections = [f"# Query\n{_cut(parts.query, BUDGETS['query'])}"]
    if parts.journal:
        sections.append(f"# Earlier turns\n{_journal(parts.journal)}")
    index, truncated = _var_index(parts.variables)
    sections.append("# Var index\n" + (index or "(no names defined yet)"))
    if parts.iteration > 1:
        previous = [f"# Your previous iteration ({parts.iteration - 1})"]
        if parts.thinking.strip():
            previous.append("thinking:\n" + _cut(parts.thinking.strip(), BUDGETS["thinking"]))
        previous.append(_results(parts.results) if parts.results else "(no code blocks ran)")
        sections.append("\n".join(previous))
    nudges = list(parts.nudges)
    if truncated:
        nudges.append("The var index was cut to fit; print() a name to see one that is not listed.")
    left = parts.max_iterations - parts.iteration
    status = f"# Iteration {parts.iteration} of {parts.max_iterations}"
    if left == 0:
        nudges.append("This is the LAST iteration: call answer(...) now with the best answer you have.")
    elif left <= 1:
        nudges.append(f"Only {left} iteration left after this one: finish and call answer(...) soon.")
    if nudges:
        status += "\n" + "\n".join(f"- {n}" for n in nudges)
    sections.append(status)
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(sections)}]


_INSTRUCTIONS = """
# This conversation's instructions
The person set these instructions for this conversation. The core rules above always come first: \
where an instruction conflicts with them, follow the core rules and say so.

{text}
"""


def with_instructions(system: str, instructions: str | None) -> str:
    """The system prompt with the conversation's instructions beneath the fixed core rules.

    Placed last, after everything fixed, and framed so that the core rules win:
    instructions can refine how to work, never weaken the rules above them.
    """
    if not instructions or not instructions.strip():
        return system
    return system + _INSTRUCTIONS.format(text=instructions.strip())
