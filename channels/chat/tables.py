"""What the slash commands print: the var index, histories, the ``why`` tree, listings, usage.

Each function turns the conversation layer's plain data into a rich
renderable and decides nothing else. Tables leave rich to share the width
out, with previews cut (never wrapped) so a 60-column terminal stays tidy.
Tables keep their one-character rule even on an ASCII terminal (the box is
marked ASCII-safe, and the console's writer swaps ``─`` for ``-``), where
rich's own ASCII fallback would put ``|`` between every column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from envloop.channels.chat.render import Glyphs, View, plural

__all__ = [
    "artifacts_table",
    "conversations_table",
    "help_table",
    "history_view",
    "inspect_view",
    "usage_view",
    "vars_table",
    "why_tree",
]


# box.SIMPLE_HEAD, declared ASCII-safe: AsciiWriter turns its "─" into "-" one for one.
_HEAD_RULE = box.Box("    \n    \n ── \n    \n    \n    \n    \n    \n", ascii=True)


def _table(*columns: str) -> Table:
    table = Table(box=_HEAD_RULE, padding=(0, 1), show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _first_line(text: str | None, limit: int = 80) -> str:
    line = (text or "").strip().split("\n", 1)[0]
    return line[:limit]


def _cut(text: str) -> Text:
    """One line, cut with an ellipsis at the column's edge.

    The column itself stays wrappable: rich shrinks wrappable columns first,
    and would otherwise take the width evenly from all of them, down to none.
    """
    return Text(text, no_wrap=True, overflow="ellipsis")


def vars_table(entries: Sequence[Any]) -> RenderableType:
    """The var index: name, version, type, preview; lost values marked."""
    if not entries:
        return Text("No names defined yet.", style="dim")
    table = _table("name", "ver", "type", "preview")
    name, version, kind, preview = table.columns
    name.style, name.overflow = "bold", "fold"
    version.justify, version.no_wrap = "right", True
    kind.no_wrap, kind.overflow, kind.max_width = True, "ellipsis", 14
    preview.ratio = 1
    for e in entries:
        shown = _cut(_first_line(e.preview, 300))
        if e.status == "lost":
            shown = Text("LOST ", style="bold red", no_wrap=True, overflow="ellipsis") + shown
        table.add_row(e.name, f"v{e.version}", e.type_name or e.kind, shown)
    return table


def _version_label(info: Any, g: Glyphs, home: int | None = None) -> Text:
    where = f"turn {info.turn}" if info.turn is not None else "no turn"
    label = Text(f"{info.name} v{info.version}", style="bold cyan")
    label.append(f"  {info.type_name or info.kind} {g.dot} {where} {g.dot} {info.author or '?'}", style="dim")
    if info.rolled_back_from:
        label.append(f"  (= {info.rolled_back_from})", style="yellow")
    if home is not None and info.conversation_id != home:  # a fork's origin
        label.append(f"  conversation {info.conversation_id}", style="dim")
    body = info.preview if info.kind == "value" else _first_line(info.source)
    if body:
        label.append("\n")
        label.append(_first_line(body, 120))
    if info.lost_reason:
        label.append(f"\nLOST: {info.lost_reason}", style="red")
    label.no_wrap, label.overflow = True, "ellipsis"  # one screen line per line, however narrow
    return label


def why_tree(chain: Sequence[Any], g: Glyphs) -> RenderableType:
    """The provenance chain as a tree: each version under the one that read (or restored) it.

    ``why`` lists versions breadth-first with their depth; a version's parent is
    the first one a level up whose block read it (or that rolled back to it).
    """
    if not chain:
        return Text("Nothing to show.", style="dim")
    root = chain[0]
    tree = Tree(_version_label(root, g), guide_style="dim")
    nodes: list[tuple[Any, Tree]] = [(root, tree)]
    for info in chain[1:]:
        key = f"{info.name} v{info.version}"
        above = [(i, n) for i, n in nodes if i.depth == info.depth - 1]
        parent = next((n for i, n in above if key in i.reads or i.rolled_back_from == key),
                      above[-1][1] if above else tree)
        nodes.append((info, parent.add(_version_label(info, g, root.conversation_id))))
    if root.turn_text:
        return Group(tree, Text(f"asked in turn {root.turn}: {_first_line(root.turn_text)}", style="dim"))
    return tree


def history_view(versions: Sequence[Any], view: View) -> RenderableType:
    """Every version of a name, oldest first, with its source (code) or preview (data)."""
    parts: list[RenderableType] = []
    for info in versions:
        when = info.created_at.strftime("%Y-%m-%d %H:%M")
        head = _version_label(info, view.g)
        head = Text(head.plain.split("\n", 1)[0], style="bold")
        head.append(f"  {when}", style="dim")
        parts.append(head)
        code = info.statement if info.author != "system" else None
        if info.source and info.kind in ("function", "class", "import"):
            parts.append(view.code(info.source, indent=4))
        elif code:
            parts.append(view.code(code, indent=4))
        if info.kind == "value" and info.preview:
            parts.append(Text("    = " + _first_line(info.preview, 300)))
        elif info.preview and not info.source and not code:
            parts.append(Text("    " + _first_line(info.preview, 300)))
        if info.reads:
            parts.append(Text(f"    read: {', '.join(info.reads)}", style="dim"))
    return Group(*parts)


def conversations_table(infos: Iterable[Any], current: int | None) -> RenderableType:
    """Conversations, most recently active first; the open one marked with ``*``."""
    infos = list(infos)
    if not infos:
        return Text("No conversations yet.", style="dim")
    table = _table("id", "turns", "last active", "title")
    table.columns[3].ratio = 1
    for info in infos:
        mark = "*" if info.id == current else ""
        title = info.title or (f"fork of {info.parent_id}" if info.parent_id else "")
        table.add_row(f"{mark}{info.id}", str(info.turns), info.updated_at.strftime("%Y-%m-%d %H:%M"),
                      _cut(_first_line(title)))
    return table


def artifacts_table(items: Sequence[dict[str, Any]]) -> RenderableType:
    if not items:
        return Text("No artifacts yet.", style="dim")
    table = _table("name", "ver", "type", "size")
    table.columns[0].overflow, table.columns[0].ratio = "fold", 1
    for item in items:
        table.add_row(item["name"], f"v{item['version']}", item["media_type"] or "?", f"{item['size']:,} B")
    return table


def usage_view(usage: dict[str, Any], g: Glyphs) -> RenderableType:
    """Tokens, cost and time of the whole conversation and of its last turn."""

    def cost(value: float | None) -> str:
        return "unknown" if value is None else f"${value:.4f}"

    table = _table("", "turns", "tokens in", "tokens out", "cost", "time")
    table.add_row("all", str(usage["turns"]), f"{usage['tokens_in']:,}", f"{usage['tokens_out']:,}",
                  cost(usage["cost"]), f"{usage['duration_ms'] / 1000:.1f} s")
    last = usage.get("last")
    if last:
        table.add_row(f"turn {last['turn']}", plural(last["iterations"] or 0, "iter"),
                      f"{last['tokens_in'] or 0:,}", f"{last['tokens_out'] or 0:,}", cost(last["cost"]),
                      f"{(last['duration_ms'] or 0) / 1000:.1f} s")
    title = Text(f"conversation {usage['conversation_id']}" + (f" {g.dot} model {last['model']}" if last else ""),
                 style="bold")
    return Group(title, table)


def inspect_view(data: dict[str, Any], view: View) -> RenderableType:
    """Exactly what the last iteration sent and got back; long messages folded (``/show`` unfolds)."""
    g = view.g
    parts: list[RenderableType] = [Text(
        f"conversation {data['conversation_id']} {g.dot} turn {data['turn']} {g.dot} iteration {data['iteration']}"
        f" {g.dot} {data['model']} {g.dot} {data['tokens_in'] or 0:,} in / {data['tokens_out'] or 0:,} out",
        style="bold")]
    for message in data["messages"]:
        parts += [Text(f"-- {message['role']} --", style="bold magenta"), view.fold(message["content"])]
    parts.append(Text("-- reply --", style="bold magenta"))
    reply = data["reply"] if data["reply"] is not None else f"(no reply: {data['error']})"
    parts.append(view.fold(reply))
    return Group(*parts)


def help_table(commands: Iterable[tuple[str, str]], g: Glyphs) -> RenderableType:
    """The slash commands, then how input works."""
    table = _table("command", "what it does")
    table.columns[0].no_wrap = True
    for usage, text in commands:
        table.add_row(usage, text)
    keys = Text(
        f"A plain line asks the model {g.dot} !CODE runs Python in the sandbox (you are the author)\n"
        f"Enter sends {g.dot} Esc Enter (or Alt-Enter) adds a line {g.dot} Tab completes commands and names\n"
        f"Ctrl-C cancels a running turn {g.dot} Ctrl-D leaves",
        style="dim",
    )
    return Group(table, keys)
