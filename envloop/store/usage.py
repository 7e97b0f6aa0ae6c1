"""How much a conversation stores, and which of a block's changes fit under its limits.

Used by the environment while it persists a block: a change that would take
the conversation's stored values over ``ENVLOOP_MAX_CONVERSATION_BYTES`` is
turned into a "not stored" version (the value stays live in the worker), and
artifact saves are checked against ``ENVLOOP_MAX_ARTIFACT_BYTES`` as they
happen.  See :mod:`envloop.limits`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from envloop.limits import human
from envloop.store.models import ArtifactVersion, DefinitionVersion

__all__ = ["StoredBytes", "admit_changes", "artifact_bytes", "streamed_digests", "value_bytes"]

STREAMED = "envloop-codec-2"


def value_bytes(session: Session, conversation_id: int, exclude: Iterable[str] = ()) -> int:
    """Encoded bytes of the newest stored version of every name (except ``exclude``)."""
    names = list(exclude)
    if not names:  # what a block asks (prebuilt)
        return int(session.scalar(_VALUE_BYTES, {"conversation": conversation_id}) or 0)
    return int(session.scalar(_value_bytes(bindparam("conversation")).where(_VERSIONS.c.name.not_in(names)),
                              {"conversation": conversation_id}) or 0)


_VERSIONS = cast(Table, DefinitionVersion.__table__)


def _value_bytes(conversation: Any) -> Any:
    newest = (
        select(func.max(_VERSIONS.c.id).label("id"))
        .where(_VERSIONS.c.conversation_id == conversation)
        .group_by(_VERSIONS.c.name)
        .subquery()
    )
    return select(func.coalesce(func.sum(_VERSIONS.c.size), 0)).where(
        _VERSIONS.c.id.in_(select(newest.c.id)),
        _VERSIONS.c.kind == "value",
        _VERSIONS.c.value_sha256.is_not(None),
    )


#: Built once, on the table: the first block of a conversation in a process asks.
_VALUE_BYTES = _value_bytes(bindparam("conversation"))
#: Stored bytes of the given versions (the ones a block's changes replace): every block asks.
REPLACED_BYTES = select(func.coalesce(func.sum(_VERSIONS.c.size), 0)).where(
    _VERSIONS.c.id.in_(bindparam("ids", expanding=True)), _VERSIONS.c.kind == "value",
    _VERSIONS.c.value_sha256.is_not(None))


def artifact_bytes(session: Session, conversation_id: int) -> int:
    """Bytes of every artifact version of a conversation (what its artifact quota counts)."""
    total = session.scalar(
        select(func.coalesce(func.sum(ArtifactVersion.size), 0)).where(ArtifactVersion.conversation_id == conversation_id)
    )
    return int(total or 0)


class StoredBytes:
    """A conversation's stored value bytes: counted once, then kept up to date block by block.

    So a block's persistence costs what it changed, not the length of the
    conversation's history.  :meth:`reset` after anything else wrote versions
    (another process, a rollback): the next block counts again.
    """

    def __init__(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id
        self.total: int | None = None

    def reset(self) -> None:
        self.total = None

    def admit(self, session: Session, changes: Sequence[dict[str, Any]], limit: int,
              previous_ids: Iterable[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """:func:`admit_changes` against the running total; ``previous_ids``: the changed names' newest versions."""
        if self.total is None:
            self.total = value_bytes(session, self.conversation_id)
        ids = list(previous_ids)
        replaced = session.scalar(REPLACED_BYTES, {"ids": ids}) if ids else 0
        base = self.total - int(replaced or 0)
        admitted, refused = admit_changes(changes, base, limit)
        self.total = base + sum(c.get("size") or 0 for c in admitted if c.get("encoding") == STREAMED)
        return admitted, refused


def admit_changes(
    changes: Sequence[dict[str, Any]], total: int, limit: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The changes to store, with those over the conversation's limit turned into "not stored" ones.

    ``total`` is what the conversation's other names already store. Returns
    ``(changes, not_stored)``; ``not_stored`` lists every value the block
    changed that is not stored (refused by the codec, over the per-value
    limit, or over this limit) as ``{"name", "reason", "size"}``.
    """
    admitted: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for change in changes:
        size = change.get("size") or 0
        if change.get("encoding") == STREAMED and total + size > limit:
            reason = (f"{change['name']}: not stored: the conversation's stored values would reach "
                      f"{human(total + size)}, over its limit of {human(limit)} (ENVLOOP_MAX_CONVERSATION_BYTES); "
                      "it stays live until the worker restarts")
            change = {k: v for k, v in change.items() if k not in ("encoding", "chunks")}
            change["lost_reason"] = reason
        elif change.get("encoding") == STREAMED:
            total += size
        if change.get("lost_reason"):
            refused.append({"name": change["name"], "reason": change["lost_reason"], "size": change.get("size")})
        admitted.append(change)
    return admitted, refused


def streamed_digests(changes: Iterable[dict[str, Any]]) -> list[str]:
    """Every chunk the stored changes refer to, in order (the spool writes these)."""
    return [d for c in changes if c.get("encoding") == STREAMED for d in c.get("chunks") or ()]
