"""``why`` as a picture: the provenance chain of a version laid out as a layered graph.

Nodes are versions (``total v2``), an edge runs from each version a block
read to the version that block wrote; a rollback is a dashed edge from the
version it restored. The layout (layers, order, coordinates, edge routes
around other nodes) comes from grandalf's Sugiyama layout; this module only
measures the boxes and turns the coordinates into shapes the SVG template
draws. Disconnected parts are placed side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

__all__ = ["Lineage", "NodeBox", "build_lineage"]

CHAR_WIDTH = 7.2  # px per character of the 12 px monospace label
NODE_HEIGHT = 44.0
PAD = 24.0
LABEL_CHARS = 40


@dataclass
class NodeBox:
    """One version in the picture, with where it is drawn and what marks it carries."""

    key: str  # "name vN"
    name: str
    version: int | None
    label: str
    detail: str
    href: str | None
    marks: list[str]  # "asked", "superseded", "stale", "artifact", "lost"
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = NODE_HEIGHT

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def top(self) -> float:
        return self.y - self.height / 2


@dataclass
class EdgePath:
    source: str
    target: str
    points: list[tuple[float, float]]
    kind: str  # "read" or "rollback"

    @property
    def d(self) -> str:
        """The SVG path: straight segments through grandalf's route."""
        first, *rest = self.points
        return f"M{first[0]:.1f},{first[1]:.1f} " + " ".join(f"L{x:.1f},{y:.1f}" for x, y in rest)


@dataclass
class Lineage:
    nodes: list[NodeBox]
    edges: list[EdgePath]
    width: float = 0.0
    height: float = 0.0
    title: str = ""
    keys: list[str] = field(default_factory=list)


class _View:
    """The size grandalf needs of a vertex; it writes ``xy`` back."""

    def __init__(self, w: float, h: float) -> None:
        self.w, self.h = w, h
        self.xy = (0.0, 0.0)


class _Route:
    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


def _short(text: str | None) -> str:
    line = (text or "").strip().split("\n", 1)[0]
    return line[:LABEL_CHARS] + ("…" if len(line) > LABEL_CHARS else "")


def _split(key: str) -> tuple[str, int | None]:
    name, _, version = key.rpartition(" v")
    return (name, int(version)) if name and version.isdigit() else (key, None)


def build_lineage(chain: Iterable[Any], current: dict[str, int], href: Any,
                  stale: Iterable[str] = ()) -> Lineage:
    """Lay out a ``why`` chain (``VersionInfo``s); ``current`` maps name -> newest version,
    ``href(name, version)`` gives each node's link, ``stale`` names the conversation layer marks stale.

    Marks: ``superseded`` (a newer version of the name exists), ``stale`` (the
    current version of a stale name, or a version that read a superseded one).
    """
    stale = set(stale)
    nodes: dict[str, NodeBox] = {}
    wanted: list[tuple[str, str, str]] = []
    for position, info in enumerate(chain):
        key = f"{info.name} v{info.version}"
        marks = ["asked"] if position == 0 else []
        if info.version < current.get(info.name, info.version):
            marks.append("superseded")
        elif info.name in stale:
            marks.append("stale")
        if info.lost_reason:
            marks.append("lost")
        detail = " · ".join(p for p in (info.type_name or info.kind,
                                        f"turn {info.turn}" if info.turn is not None else None) if p)
        nodes[key] = NodeBox(key, info.name, info.version, key, detail,
                             href(info.name, info.version), marks)
        wanted += [(read, key, "read") for read in info.reads]
        if info.rolled_back_from:
            wanted.append((info.rolled_back_from, key, "rollback"))
    for source, _, _ in wanted:
        if source not in nodes:  # an artifact read (why follows definitions only)
            name, version = _split(source)
            nodes[source] = NodeBox(source, name, version, source, "artifact", None, ["artifact"])
    for source, target, _ in wanted:
        marks = nodes[target].marks
        if "superseded" in nodes[source].marks and not {"superseded", "stale"} & set(marks):
            marks.append("stale")
    return _layout(list(nodes.values()), wanted)


def _layout(boxes: list[NodeBox], wanted: list[tuple[str, str, str]]) -> Lineage:
    vertices = {}
    for box in boxes:
        box.width = max(len(box.label), len(box.detail)) * CHAR_WIDTH + 20
        vertex = Vertex(box.key)
        vertex.view = _View(box.width, box.height)
        vertices[box.key] = vertex
    edges: list[tuple[Edge, str]] = []
    for source, target, kind in dict.fromkeys(wanted):
        if source != target:
            edge = Edge(vertices[source], vertices[target])
            edge.view = _Route()
            edges.append((edge, kind))
    graph = Graph(list(vertices.values()), [e for e, _ in edges])
    offset = PAD
    for component in graph.C:
        layout = SugiyamaLayout(component)
        layout.yspace = 40
        layout.xspace = 24
        layout.init_all()
        layout.draw()
        members = [v.data for v in component.sV]
        left = min(vertices[k].view.xy[0] - vertices[k].view.w / 2 for k in members)
        shift = offset - left
        for key in members:
            x, y = vertices[key].view.xy
            box = next(b for b in boxes if b.key == key)
            box.x, box.y = x + shift, y + PAD
        for edge, _ in edges:
            if edge.v[0].data in members:
                edge.view.points = [(x + shift, y + PAD) for x, y in edge.view.points]
        offset = max(b.x + b.width / 2 for b in boxes if b.key in members) + PAD * 2
    paths = [EdgePath(e.v[0].data, e.v[1].data, _clip(e.view.points, boxes, e), kind) for e, kind in edges]
    width = max((b.x + b.width / 2 for b in boxes), default=0) + PAD
    height = max((b.y + b.height / 2 for b in boxes), default=0) + PAD
    return Lineage(boxes, paths, width, height, keys=[b.key for b in boxes])


def _clip(points: list[tuple[float, float]], boxes: list[NodeBox], edge: Edge) -> list[tuple[float, float]]:
    """Start the edge at the bottom of its source box and end it at the top of its target's."""
    if len(points) < 2:
        return points
    by_key = {b.key: b for b in boxes}
    source, target = by_key[edge.v[0].data], by_key[edge.v[1].data]
    (x0, y0), (x1, y1) = points[0], points[-1]
    start = (x0, y0 + source.height / 2) if y1 >= y0 else (x0, y0 - source.height / 2)
    end = (x1, y1 - target.height / 2) if y1 >= y0 else (x1, y1 + target.height / 2)
    return [start, *points[1:-1], end]
