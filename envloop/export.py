"""Exporting a conversation as a Jupyter notebook, a Python script or Markdown.

The database is read once, in one transaction, into plain view objects, so an
export is a consistent snapshot even while another process runs a turn.  The
order of what appears (turn heading, the person's words, each iteration's
thinking and blocks, the answer, notes) is decided once, in :func:`_items`;
the three renderers only decide how each item looks.

The notebook is written as JSON by hand: nbformat is only a test dependency
(the tests validate every exported notebook with it), not a runtime one.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from envloop.errors import NotFoundError
from envloop.store.db import Database
from envloop.store.models import Block, Conversation, DefinitionVersion, Iteration, Query
from envloop.textsafe import for_comment_lines, for_markdown, for_terminal, unicode_safe

__all__ = ["FORMATS", "ExportFormat", "export_conversation", "load_conversation"]

ExportFormat = Literal["ipynb", "py", "md"]
FORMATS: tuple[ExportFormat, ...] = ("ipynb", "py", "md")
NOTE_KINDS = ("rollback", "undo", "fork", "instructions")
NO_TURNS = "This conversation has no turns yet."
LIMIT_NOTE = "envloop: the {} limit was hit"


# -- what is exported ------------------------------------------------------------


@dataclass(frozen=True)
class BlockView:
    """A block as it ran; ``changed`` lists the names it wrote (shown for timeline notes)."""

    author: str
    source: str
    stdout: str = ""
    result: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_line: int | None = None
    limit: str | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class IterationView:
    position: int
    thinking: str | None
    error: str | None
    blocks: list[BlockView]


@dataclass(frozen=True)
class TurnView:
    position: int
    kind: str
    text: str
    status: str
    answer: str | None
    error: str | None
    model: str | None
    iterations: list[IterationView]
    blocks: list[BlockView]  # blocks of the turn outside any iteration (direct runs, system notes)


@dataclass(frozen=True)
class ConversationView:
    id: int
    title: str | None
    parent_id: int | None
    fork_turn: int | None
    turns: list[TurnView]
    loose_blocks: list[BlockView]  # blocks recorded without a turn, kept so nothing is silently dropped

    @property
    def heading(self) -> str:
        return f"Conversation {self.id}" + (f": {self.title}" if self.title else "")


def _changed_names(session: Session, conversation_id: int) -> dict[int, list[str]]:
    """Per block id, "name vN (= vM)" for each version it wrote: what a rollback/undo/fork did."""
    source = aliased(DefinitionVersion)
    rows = session.execute(
        select(DefinitionVersion.block_id, DefinitionVersion.name, DefinitionVersion.version,
               DefinitionVersion.kind, source.version)
        .outerjoin(source, DefinitionVersion.rolled_back_from_id == source.id)
        .where(DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.block_id.is_not(None))
        .order_by(DefinitionVersion.id)
    )
    changed: dict[int, list[str]] = defaultdict(list)
    for block_id, name, version, kind, from_version in rows:
        if block_id is None:
            continue
        label = f"{name} deleted" if kind == "deleted" else f"{name} v{version}"
        changed[block_id].append(label + (f" (= v{from_version})" if from_version else ""))
    return changed


def _block_view(block: Block, changed: dict[int, list[str]]) -> BlockView:
    return BlockView(block.author, block.source, block.stdout or "", block.result_preview, block.error_type,
                     block.error_message, block.error_line, block.limit_hit, tuple(changed.get(block.id, ())))


def load_conversation(session: Session, conversation_id: int) -> ConversationView:
    """Read a conversation's turns, iterations and blocks into views (three queries, not one per turn)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFoundError(f"no conversation {conversation_id}")
    queries = session.scalars(
        select(Query).where(Query.conversation_id == conversation_id).order_by(Query.position)
    ).all()
    iterations = session.scalars(
        select(Iteration).join(Query).where(Query.conversation_id == conversation_id)
        .order_by(Iteration.query_id, Iteration.position)
    ).all()
    blocks = session.scalars(
        select(Block).where(Block.conversation_id == conversation_id).order_by(Block.position, Block.id)
    ).all()
    changed = _changed_names(session, conversation_id)
    by_iteration: dict[int, list[BlockView]] = defaultdict(list)
    by_query: dict[int | None, list[BlockView]] = defaultdict(list)
    for block in blocks:
        view = _block_view(block, changed)
        if block.iteration_id is not None:
            by_iteration[block.iteration_id].append(view)
        else:
            by_query[block.query_id].append(view)
    steps: dict[int, list[IterationView]] = defaultdict(list)
    for it in iterations:
        steps[it.query_id].append(IterationView(it.position, it.thinking, it.error, by_iteration[it.id]))
    turns = [
        TurnView(q.position, q.kind, q.text, q.status, q.answer, q.error, q.model, steps[q.id], by_query[q.id])
        for q in queries
    ]
    return ConversationView(conv.id, conv.title, conv.parent_id, conv.fork_turn, turns, by_query[None])


# -- the order things appear in ----------------------------------------------------


@dataclass(frozen=True)
class Prose:
    """Text for a person: a heading, their words, the model's thinking, an answer or a note."""

    role: Literal["heading", "user", "thinking", "answer", "note"]
    text: str
    turn: int
    label: str | None = None


@dataclass(frozen=True)
class Code:
    """A block that ran, with its outputs."""

    block: BlockView
    turn: int
    iteration: int | None = None


Item = Prose | Code

_TITLES = {"turn": "you asked", "run": "you ran code", "rollback": "rollback", "undo": "undo", "fork": "fork",
           "instructions": "instructions"}


def _turn_items(turn: TurnView) -> Iterator[Item]:
    """One turn: its heading, then what happened in it, in the order it happened."""
    n = turn.position
    title = f"Turn {n} · {_TITLES.get(turn.kind, turn.kind)}"
    yield Prose("heading", title + (f" (model {turn.model})" if turn.model and turn.kind == "turn" else ""), n)
    if turn.kind in NOTE_KINDS:
        names = sorted({name for block in turn.blocks for name in block.changed})
        yield Prose("note", turn.text + (f" — {', '.join(names)}" if names else ""), n, turn.kind.capitalize())
    elif turn.kind == "run":
        for block in turn.blocks or [BlockView("user", turn.text)]:
            yield Code(block, n)
    else:
        if turn.text:
            yield Prose("user", turn.text, n)
        many = len(turn.iterations) > 1
        for it in turn.iterations:
            if it.thinking or many:
                yield Prose("thinking", it.thinking or "", n, f"Iteration {it.position}" if many else None)
            if it.error:
                yield Prose("note", it.error, n, "Iteration error")
            for block in it.blocks:
                yield Code(block, n, it.position)
        for block in turn.blocks:
            yield Code(block, n)
        if turn.answer:
            yield Prose("answer", turn.answer, n, "Answer")
    shown = any(b.error_type or b.limit for b in turn.blocks) and turn.kind == "run"
    if turn.status != "done" and not shown:
        yield Prose("note", turn.status.replace("_", " ") + (f": {turn.error}" if turn.error else ""), n, "Status")


def _items(conv: ConversationView) -> Iterator[Item]:
    for turn in conv.turns:
        yield from _turn_items(turn)
    if conv.loose_blocks:
        yield Prose("heading", "Blocks outside any turn", 0)
        for block in conv.loose_blocks:
            yield Code(block, 0)


def _preamble(conv: ConversationView) -> str:
    """The line under the title: the fork origin and the size, or that there is nothing yet."""
    parts = [f"Forked from conversation {conv.parent_id} at turn {conv.fork_turn}."] if conv.parent_id else []
    parts.append(f"{len(conv.turns)} turn{'s' if len(conv.turns) != 1 else ''}, exported from envloop."
                 if conv.turns else NO_TURNS)
    return " ".join(parts)


def _error_line(block: BlockView) -> str:
    where = f" (line {block.error_line})" if block.error_line else ""
    return f"{block.error_type}{where}" + (f": {block.error_message}" if block.error_message else "")


# -- Markdown (also the notebook's markdown cells) ---------------------------------------


def _fence(text: str, lang: str) -> str:
    """A fenced block whose fence is longer than any backtick run inside, so content cannot close it."""
    text = for_terminal(text)  # literal inside the fence, but a terminal `cat` would still obey escapes
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"


def _prose_md(item: Prose) -> str:
    """Prose is Markdown the model or a person wrote: its HTML is shown, never run (``for_markdown``)."""
    text = for_markdown(item.text)
    if item.role == "heading":
        return f"## {' '.join(text.splitlines())}"
    if item.role == "user":
        return "\n".join(f"> {line}".rstrip() for line in text.splitlines())
    label = f"**{item.label}:**" if item.label else ""
    if item.role == "note":
        return f"{label} {text}".strip()
    return f"{label}\n\n{text}".strip() if text else label


def _code_md(item: Code) -> str:
    block = item.block
    parts = [_fence(block.source, "python")]
    if block.stdout:
        parts.append("Output:\n\n" + _fence(block.stdout, "text"))
    if block.result is not None:
        parts.append("Result:\n\n" + _fence(block.result, "text"))
    if block.error_type:
        parts.append("Error:\n\n" + _fence(_error_line(block), "text"))
    if block.limit and not block.error_type:
        parts.append(f"*{LIMIT_NOTE.format(block.limit)}*")
    return "\n\n".join(parts)


def _to_md(conv: ConversationView) -> str:
    parts = [f"# {for_markdown(conv.heading)}", _preamble(conv)]
    parts += [_prose_md(i) if isinstance(i, Prose) else _code_md(i) for i in _items(conv)]
    return "\n\n".join(p for p in parts if p) + "\n"


# -- Python script ------------------------------------------------------------------------


def _comment(text: str, prefix: str = "# ") -> list[str]:
    """Comment lines that stay comments: split at every break Python sees (CR too), controls spelled out."""
    return [(prefix + line).rstrip() for line in for_comment_lines(text.rstrip("\r\n"))] if text else [
        prefix.rstrip()]


def _source_lines(source: str) -> list[str]:
    """A block's own lines, split where Python splits them (not at form feeds inside strings)."""
    return re.split("\r\n|\r|\n", unicode_safe(source).rstrip("\r\n"))


def _compiles(source: str) -> bool:
    """Whether the block can stand in the script; the leading statement catches late __future__ imports."""
    try:
        compile("pass\n" + source, "<block>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _prose_py(item: Prose) -> list[str]:
    if item.role == "heading":
        return ["", f"# %% {' '.join(for_comment_lines(item.text))}"]
    head = f"# {'You' if item.role == 'user' else item.label or 'Thinking'}:"
    lines = for_comment_lines(item.text.strip())
    if len(lines) == 1:
        return [f"{head} {lines[0]}".rstrip()]
    return [head, *_comment(item.text)]


def _code_py(item: Code) -> list[str]:
    block = item.block
    if _compiles(block.source):
        lines = _source_lines(block.source)
    else:
        lines = ["# (kept as a comment: this block is not valid Python on its own)", *_comment(block.source)]
    lines += _comment(block.stdout, "# >>> ") if block.stdout else []
    lines += _comment(f"Out: {block.result}", "# >>> ") if block.result is not None else []
    lines += _comment(_error_line(block), "# >>> ") if block.error_type else []
    lines += [f"# >>> [{LIMIT_NOTE.format(block.limit)}]"] if block.limit and not block.error_type else []
    return [*lines, ""]


def _to_py(conv: ConversationView) -> str:
    lines = [*_comment(f"envloop {conv.heading}"), *_comment(_preamble(conv)),
             "# Each turn is a '# %%' cell; a block's outputs follow it as '# >>> ' comments."]
    for item in _items(conv):
        lines += _prose_py(item) if isinstance(item, Prose) else _code_py(item)
    return "\n".join(lines) + "\n"


# -- Jupyter notebook (nbformat 4.5) -----------------------------------------------------------


def _lines(text: str) -> list[str]:
    return unicode_safe(text).splitlines(keepends=True)


def _shown(text: str) -> list[str]:
    """Output text for a notebook: Jupyter renders ANSI escapes in streams and tracebacks."""
    return for_terminal(text).splitlines(keepends=True)


def _outputs(block: BlockView, count: int) -> list[dict[str, Any]]:
    """The cell's outputs as Jupyter would have shown them: stdout, the value, the error."""
    outputs: list[dict[str, Any]] = []
    if block.stdout:
        outputs.append({"output_type": "stream", "name": "stdout", "text": _shown(block.stdout)})
    if block.limit and not block.error_type:
        outputs.append({"output_type": "stream", "name": "stderr", "text": [LIMIT_NOTE.format(block.limit) + "\n"]})
    if block.result is not None:
        outputs.append({"output_type": "execute_result", "execution_count": count,
                        "data": {"text/plain": _lines(block.result)}, "metadata": {}})
    if block.error_type:
        ename, evalue = for_terminal(block.error_type), for_terminal(block.error_message or "")
        traceback = [f"{ename}: {evalue}"]
        if block.error_line:
            traceback.insert(0, f"  at line {block.error_line} of the block")
        outputs.append({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback})
    return outputs


def _code_cell(item: Code, count: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"turn": item.turn, "author": item.block.author}
    if item.iteration is not None:
        meta["iteration"] = item.iteration
    if item.block.limit:
        meta["limit_hit"] = item.block.limit
    return {"cell_type": "code", "execution_count": count, "metadata": {"envloop": meta},
            "source": _lines(item.block.source), "outputs": _outputs(item.block, count)}


def _to_ipynb(conv: ConversationView) -> str:
    """Consecutive prose of a turn is one markdown cell; every block one code cell, numbered in order."""
    cells: list[dict[str, Any]] = []
    pending = [f"# {for_markdown(conv.heading)}", _preamble(conv)]
    count = 0

    def flush() -> None:
        if pending:
            cells.append({"cell_type": "markdown", "metadata": {}, "source": _lines("\n\n".join(pending))})
            pending.clear()

    for item in _items(conv):
        if isinstance(item, Prose):
            if item.role == "heading":
                flush()  # each turn starts its own cell
            pending.append(_prose_md(item))
            continue
        flush()
        count += 1
        cells.append(_code_cell(item, count))
    flush()
    for n, cell in enumerate(cells, 1):
        cell["id"] = f"cell-{n}"
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"},
            "envloop": {"conversation_id": conv.id, "title": conv.title and unicode_safe(conv.title)},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


_RENDERERS = {"ipynb": _to_ipynb, "py": _to_py, "md": _to_md}


def export_conversation(database: Database, conversation_id: int, fmt: ExportFormat) -> str:
    """The conversation's turns, blocks and outputs as a notebook, a script or Markdown text.

    Raises NotFoundError for an unknown conversation and ValueError for an unknown format.
    """
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    with database.session() as session:
        conv = load_conversation(session, conversation_id)
    return _RENDERERS[fmt](conv)
