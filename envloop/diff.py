"""What changed between two versions of a name: keys, items and fields, not two blobs of text.

``envloop diff NAME V1 V2`` answers with one line per difference, addressed by
its path (``total``, ``rows[3]['amount']``):

    + rows[3]: {'id': 4}               an item or key that is new
    - cache['old']: 1                  one that went away
    ~ rows[0]['amount']: 10.0 → 12.5   one whose value changed

Code (functions, classes, imports) and long texts get a unified line diff.

The host reads stored values only as data. The codec's fast path is msgpack of
plain scalars and containers, which unpacks into nothing but those; values the
Python walker encoded (the conversation's own instances, sets, dates, shared
references) are not decoded here at all: their encoded nodes are rendered to
text (as the var index's previews are) and compared as text. Nothing the
conversation wrote is ever run or rebuilt on the host.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]  # no stubs
from sqlalchemy import select
from sqlalchemy.orm import Session

from envloop.errors import EnvloopError
from envloop.sandbox._codec_fast import FastDecoder
from envloop.sandbox._codec_preview import render_node
from envloop.store.history import version_row
from envloop.store.models import Blob, DefinitionVersion
from envloop.store.versions import STREAMED, load_value

__all__ = ["MAX_DIFF_BYTES", "diff_versions"]

MAX_DIFF_BYTES = 64 << 20  # a larger stored value is compared by its digest only
MAX_LINES = 200
_RENDER = 4000  # characters of one rendered part
_CODE_KINDS = ("function", "class", "import")


@dataclass(frozen=True)
class _Rendered:
    """A part the host does not decode (walker-encoded): its rendering stands for it."""

    text: str

    def __repr__(self) -> str:
        return self.text


def diff_versions(session: Session, conversation_id: int, name: str, old: int, new: int) -> list[str]:
    """The differences from version ``old`` to version ``new`` of ``name``, one line each."""
    a = version_row(session, conversation_id, name, old)
    b = version_row(session, conversation_id, name, new)
    if "deleted" in (a.kind, b.kind) or a.lost_reason or b.lost_reason:
        return [f"~ {name}: {_label(a)} → {_label(b)}"]
    if a.kind in _CODE_KINDS or b.kind in _CODE_KINDS:
        return _text_diff(a.source or a.preview or "", b.source or b.preview or "", f"{name} v{old}", f"{name} v{new}")
    if (a.value_sha256, a.source) == (b.value_sha256, b.source):
        return []
    for row in (a, b):
        if (row.size or 0) > MAX_DIFF_BYTES:
            return [f"~ {name}: v{old} and v{new} differ (v{row.version} is {row.size:,} bytes encoded; "
                    f"over {MAX_DIFF_BYTES >> 20} MiB, compare it in code)"]
    lines = list(_diff(_stored(session, a), _stored(session, b), name))
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"… and {len(lines) - MAX_LINES} more differences"]
    return lines or [f"~ {name}: the values are equal; only how they are stored differs"]


def _label(row: DefinitionVersion) -> str:
    if row.kind == "deleted":
        return "deleted"
    if row.lost_reason:
        return f"not stored ({row.lost_reason})"
    return (row.preview or row.kind)[:200]


# -- reading a stored value as data ------------------------------------------------------


def _stored(session: Session, row: DefinitionVersion) -> Any:
    if row.value_sha256 is None:
        return _Rendered(row.preview or "")
    stored = load_value(session, row.value_sha256)
    if stored["encoding"] != STREAMED:
        return _render_walker({"root": stored["root"]}, chunks=stored.get("chunks") or {})
    member = stored.get("member")
    decoder = FastDecoder(lambda text: _render_walker(json.loads(text), member=member))
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, use_list=True, max_buffer_size=64 << 20)
    try:
        for data in _chunks(session, stored["chunks"]):
            unpacker.feed(data)
            decoder.feed(unpacker)
    except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException) as broken:
        raise EnvloopError(f"{row.name} v{row.version} is stored corrupt: {broken}") from None
    return decoder.value


def _chunks(session: Session, digests: list[str]) -> Iterator[bytes]:
    for start in range(0, len(digests), 64):
        part = digests[start : start + 64]
        found = {b.sha256: b.data for b in session.scalars(select(Blob).where(Blob.sha256.in_(part)))}
        for digest in part:
            if digest not in found:
                raise EnvloopError(f"a chunk of the stored value is missing ({digest[:12]})")
            yield found[digest]


def _render_walker(envelope: dict[str, Any], *, member: str | None = None,
                   chunks: dict[str, str] | None = None) -> _Rendered:
    """A walker-encoded value as text; for a group of names sharing objects, only ``member``'s part."""
    root, defs = envelope.get("root"), envelope.get("defs") or []
    if member is not None and type(root) is list and root[:1] == ["d"]:
        pairs = root[1:]
        root = next((pairs[i + 1] for i in range(0, len(pairs) - 1, 2) if pairs[i] == member), root)
    fetch = (lambda digest: (chunks or {})[digest]) if chunks else None
    return _Rendered(render_node(root, limit=_RENDER, defs=defs, fetch=fetch))


# -- comparing ---------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _diff(a: Any, b: Any, path: str) -> Iterator[str]:
    if type(a) is not type(b):
        yield f"~ {path}: {_short(a)} → {_short(b)}"
    elif type(a) is dict:
        yield from _diff_dict(a, b, path)
    elif type(a) in (list, tuple):
        yield from _diff_seq(a, b, path)
    elif type(a) in (str, _Rendered) and _long(a, b):
        old, new = (str(a), str(b)) if type(a) is str else (a.text, b.text)
        yield from _text_diff(old, new, f"{path} (old)", f"{path} (new)")
    elif a != b:
        yield f"~ {path}: {_short(a)} → {_short(b)}"


def _long(a: Any, b: Any) -> bool:
    texts = [x if type(x) is str else x.text for x in (a, b)]
    return any("\n" in t or len(t) > 200 for t in texts)


def _diff_dict(a: dict[Any, Any], b: dict[Any, Any], path: str) -> Iterator[str]:
    for key in a:
        if key not in b:
            yield f"- {path}[{key!r}]: {_short(a[key])}"
        else:
            yield from _diff(a[key], b[key], f"{path}[{key!r}]")
    for key in b:
        if key not in a:
            yield f"+ {path}[{key!r}]: {_short(b[key])}"


def _diff_seq(a: list[Any] | tuple[Any, ...], b: list[Any] | tuple[Any, ...], path: str) -> Iterator[str]:
    if len(a) == len(b):
        changed = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if type(x) is not type(y) or x != y]
        if len(changed) <= max(3, len(a) // 10):  # edits in place: compare item by item
            for i in changed:
                yield from _diff(a[i], b[i], f"{path}[{i}]")
            return
    matcher = difflib.SequenceMatcher(None, [repr(x) for x in a], [repr(y) for y in b], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for offset in range(i2 - i1):
                yield from _diff(a[i1 + offset], b[j1 + offset], f"{path}[{j1 + offset}]")
            continue
        for i in range(i1, i2):
            yield f"- {path}[{i}]: {_short(a[i])}"
        for j in range(j1, j2):
            yield f"+ {path}[{j}]: {_short(b[j])}"


def _text_diff(old: str, new: str, old_label: str, new_label: str) -> list[str]:
    if old == new:
        return []
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm="", n=2))
