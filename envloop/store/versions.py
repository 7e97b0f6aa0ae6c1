"""Writing and reading definition and artifact versions, with their provenance.

The worker reports, after each block, the names whose value changed (encoded
by the data-only codec, never a pickle) and the names the block read.  Here
they become rows: one Block, one DefinitionVersion per changed name, edges to
the versions the block read, and content-addressed blobs — all in the
caller's transaction, so a block and its versions commit or vanish together.

The host never decodes a value: a stored value is an envelope
``{"codec": …, "root": …, "chunks": [digest, …]}`` whose root and chunks the
worker alone interprets.  Large containers are split into chunks by the
codec, so appending to a big list stores only the new last chunk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from envloop.store.db import Database, insert_missing
from envloop.store.models import ArtifactVersion, Blob, DefinitionVersion
from envloop.store.provenance import write_read_set

__all__ = [
    "ArtifactSave",
    "Change",
    "WrittenVersion",
    "latest_artifacts",
    "latest_versions",
    "load_value",
    "newest_version_id",
    "put_blob",
    "put_blobs",
    "version_counts",
    "write_artifact",
    "write_versions",
]


class Change(TypedDict, total=False):
    """One changed name as the worker reports it (plain data only)."""

    name: str
    kind: str  # value | function | class | import | deleted
    source: str | None
    encoding: str | None
    root: str | None
    chunks: Any  # codec-1: {digest: text}; envloop-codec-2: [digest, ...] (streamed, in order)
    digest: str | None
    preview: str | None
    type_name: str | None
    size: int | None
    lost_reason: str | None
    member: str | None  # set when the value is stored with other names that share objects
    content: str | None  # digest of the value's own encoding, alone (the same whatever it is stored with)


#: A value streamed as chunks (envloop.sandbox.stream): the envelope lists them in order.
STREAMED = "envloop-codec-2"


@dataclass
class ArtifactSave:
    """An artifact version waiting for its block's transaction.

    With ``digest`` set, the content is not in ``data`` but in the caller's
    chunk spool, which writes the blob in the same transaction.
    """

    name: str
    data: bytes
    media_type: str | None
    digest: str | None = None
    size: int = 0


@dataclass(slots=True)
class WrittenVersion:
    """A version :func:`write_versions` inserted: the columns its callers read, not an ORM object."""

    id: int
    name: str
    version: int
    kind: str
    lost_reason: str | None
    read_set_id: int | None


_VERSIONS = cast(Table, DefinitionVersion.__table__)
_BLOBS = cast(Table, Blob.__table__)


def put_blob(session: Session, data: bytes) -> str:
    """Store ``data`` once by its sha256 and return the digest."""
    return put_blobs(session, [data])[0]


def put_blobs(session: Session, payloads: Iterable[bytes]) -> list[str]:
    """Store each payload once by sha256 (one look-up for all of them); their digests, in order.

    Digests are computed here, never taken from the worker.
    """
    by_digest = {hashlib.sha256(data).hexdigest(): data for data in payloads}
    if by_digest:
        have = set(session.scalars(BLOBS_PRESENT, {"digests": list(by_digest)}))
        missing = [{"sha256": d, "size": len(b), "data": b} for d, b in by_digest.items() if d not in have]
        insert_missing(session, Blob, missing, "sha256")  # another writer may store the same bytes now
    return list(by_digest)


#: Which of ``digests`` the blob table holds (built once: building a select costs more than running this one;
#: on the table, not the ORM entity, so it compiles and runs without the ORM's statement machinery).
BLOBS_PRESENT = select(_BLOBS.c.sha256).where(_BLOBS.c.sha256.in_(bindparam("digests", expanding=True)))


#: The newest version id of a conversation (every block asks, to see whether another process wrote).
_NEWEST_ID = select(func.max(_VERSIONS.c.id)).where(_VERSIONS.c.conversation_id == bindparam("conversation"))


def newest_version_id(database: Database, conversation_id: int) -> int:
    """The id of the conversation's newest version (0: none), in a read transaction of its own."""
    with database.transaction() as conn:
        return int(conn.execute(_NEWEST_ID, {"conversation": conversation_id}).scalar() or 0)


def latest_numbers(session: Session, conversation_id: int, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """name → (version id, version number) of the newest version of each given name."""
    names = list(set(names))
    if not names:
        return {}
    rows = session.execute(_NEWEST_NUMBERS, {"conversation": conversation_id, "names": names})
    return {name: (vid, number) for name, vid, number in rows}


# A correlated max over the (conversation, name, version) index: one index probe per row on
# SQLite and PostgreSQL alike, whatever the planner's statistics (a fresh PostgreSQL table has
# none, and a join against a grouped subquery then loops over every version).  Built once: every
# block asks, and building this select took 30 times as long as running it.  Core, on the table.
_OLDER = _VERSIONS.alias("older")
_NEWEST_NUMBERS = select(_VERSIONS.c.name, _VERSIONS.c.id, _VERSIONS.c.version).where(
    _VERSIONS.c.conversation_id == bindparam("conversation"),
    _VERSIONS.c.name.in_(bindparam("names", expanding=True)),
    _VERSIONS.c.version == select(func.max(_OLDER.c.version)).where(
        _OLDER.c.conversation_id == _VERSIONS.c.conversation_id, _OLDER.c.name == _VERSIONS.c.name
    ).scalar_subquery(),
)

#: New versions, their ids back in the order of the rows (one INSERT … RETURNING for a batch).
_INSERT_VERSIONS = insert(_VERSIONS).returning(_VERSIONS.c.id, sort_by_parameter_order=True)


def write_versions(
    session: Session,
    *,
    conversation_id: int,
    block_id: int | None,
    changes: Sequence[Change],
    read_version_ids: Sequence[int] = (),
    read_artifact_ids: Sequence[int] = (),
    rolled_back_from: Mapping[str, int] | None = None,
    numbers: Mapping[str, tuple[int, int]] | None = None,
    read_set_id: int | None = None,
) -> list[WrittenVersion]:
    """New versions for ``changes``, numbered after each name's newest, with their provenance.

    ``numbers`` (from :func:`latest_numbers`) saves the look-up when the caller has it.
    The reads become one read set shared by every new version; pass ``read_set_id``
    (from :func:`~envloop.store.provenance.write_read_set`) to share it with artifacts too.
    """
    if read_set_id is None:
        read_set_id = write_read_set(session, conversation_id, read_version_ids, read_artifact_ids)
    if numbers is None:
        numbers = latest_numbers(session, conversation_id, (c["name"] for c in changes))
    payloads: list[bytes] = []
    envelopes: dict[int, str] = {}
    for index, change in enumerate(changes):
        if change.get("encoding") == STREAMED:  # chunks already written from the spool
            envelope = {"codec": STREAMED, "chunks": list(change.get("chunks") or ()), "size": change.get("size")}
            if change.get("member"):  # one of names sharing objects, stored together (sandbox/aliases.py)
                envelope["member"] = change["member"]
            data = json.dumps(envelope, separators=(",", ":")).encode()
            payloads.append(data)
            envelopes[index] = hashlib.sha256(data).hexdigest()
        elif change.get("root") is not None:
            chunks = [text.encode() for text in (change.get("chunks") or {}).values()]
            payloads.extend(chunks)
            envelope = {
                "codec": change.get("encoding"),
                "root": change["root"],
                "chunks": sorted(hashlib.sha256(c).hexdigest() for c in chunks),
            }
            data = json.dumps(envelope, separators=(",", ":")).encode()
            payloads.append(data)
            envelopes[index] = hashlib.sha256(data).hexdigest()
    put_blobs(session, payloads)
    if not changes:
        return []
    rolled_back = rolled_back_from or {}
    rows: list[dict[str, Any]] = [
        {
            "conversation_id": conversation_id,
            "name": change["name"],
            "version": numbers.get(change["name"], (0, 0))[1] + 1,
            "kind": change["kind"],
            "source": change.get("source"),
            "encoding": change.get("encoding"),
            "value_sha256": envelopes.get(index),
            "content_sha256": change.get("content"),
            "lost_reason": change.get("lost_reason"),
            "preview": change.get("preview"),
            "type_name": change.get("type_name"),
            "size": change.get("size"),
            "block_id": block_id,
            "rolled_back_from_id": rolled_back.get(change["name"]),
            "read_set_id": read_set_id,
        }
        for index, change in enumerate(changes)
    ]
    # A prebuilt Core insert (created_at from the column's default), not ORM objects and a flush:
    # the same rows, without the unit of work, and compiled once per engine.
    ids = session.execute(_INSERT_VERSIONS, rows).scalars().all()
    return [WrittenVersion(int(vid), row["name"], row["version"], row["kind"], row["lost_reason"], read_set_id)
            for vid, row in zip(ids, rows, strict=True)]


def write_artifact(
    session: Session,
    *,
    conversation_id: int,
    block_id: int | None,
    save: ArtifactSave,
    read_version_ids: Sequence[int] = (),
    read_artifact_ids: Sequence[int] = (),
    read_set_id: int | None = None,
) -> ArtifactVersion:
    """A new version of an artifact, its content stored once by hash, with its block's read set."""
    if read_set_id is None:
        read_set_id = write_read_set(session, conversation_id, read_version_ids, read_artifact_ids)
    newest = session.scalar(
        select(func.max(ArtifactVersion.version)).where(
            ArtifactVersion.conversation_id == conversation_id, ArtifactVersion.name == save.name
        )
    )
    row = ArtifactVersion(
        conversation_id=conversation_id,
        name=save.name,
        version=(newest or 0) + 1,
        content_sha256=save.digest or put_blob(session, save.data),
        media_type=save.media_type,
        size=save.size if save.digest else len(save.data),
        block_id=block_id,
        read_set_id=read_set_id,
    )
    session.add(row)
    session.flush()
    return row


def _newest_rows(model: type[DefinitionVersion] | type[ArtifactVersion], conversation_id: int) -> Any:
    """SELECT of the newest row of every name of ``model`` (versions or artifacts) in a conversation."""
    newest = (
        select(model.name, func.max(model.version).label("v"))
        .where(model.conversation_id == conversation_id)
        .group_by(model.name)
        .subquery()
    )
    return (
        select(model)
        .join(newest, (model.name == newest.c.name) & (model.version == newest.c.v))
        .where(model.conversation_id == conversation_id)
    )


def version_counts(session: Session, model: type[DefinitionVersion] | type[ArtifactVersion],
                   conversation_id: int) -> dict[str, int]:
    """name → how many versions it has, for definitions or artifacts."""
    return dict(
        session.execute(
            select(model.name, func.count()).where(model.conversation_id == conversation_id).group_by(model.name)
        ).all()
    )


#: Reserved names a restore sends to the worker (module state, not Python names; never in the var index).
WORKER_STATE = ("@random", "@decimal", "@calendar", "@csv")  # envloop.sandbox.module_state.NAMES
#: The prefix of a class its name no longer holds, kept for the values that refer to it
#: (envloop.sandbox._codec_defs.HIDDEN_CLASS): sent to the worker too, never in the var index.
HIDDEN_CLASS = "@class:"


def worker_state(name: str) -> bool:
    """Whether ``name`` is one of the reserved names stored for the worker (not a variable)."""
    return name in WORKER_STATE or name.startswith(HIDDEN_CLASS)


def latest_versions(session: Session, conversation_id: int, *, after_id: int = 0,
                    worker_state: bool = False) -> list[DefinitionVersion]:
    """The newest version of every name (tombstones included), oldest first.

    With ``after_id``, only names whose newest version is newer than that id:
    what a worker that saw everything up to ``after_id`` has to catch up on.
    Reserved names (``@instructions``: not Python names) are left out: they are
    versioned here but never enter the namespace or the var index.
    """
    visible: Any = DefinitionVersion.name.not_like("@%")
    if worker_state:  # the restore also needs module state such as the random generator's
        visible = visible | DefinitionVersion.name.in_(WORKER_STATE) | DefinitionVersion.name.startswith(HIDDEN_CLASS)
    stmt = _newest_rows(DefinitionVersion, conversation_id).where(DefinitionVersion.id > after_id, visible)
    return list(session.scalars(stmt.order_by(DefinitionVersion.id)))


def load_value(session: Session, value_sha256: str) -> dict[str, Any]:
    """The envelope of a stored value with its chunk texts, ready to send to a worker."""
    envelope = json.loads(session.get_one(Blob, value_sha256).data)
    if envelope.get("codec") == STREAMED:  # the worker fetches the chunks while it decodes
        found = {"encoding": STREAMED, "chunks": envelope["chunks"], "size": envelope.get("size")}
        if envelope.get("member"):
            found["member"] = envelope["member"]
        return found
    digests = envelope.get("chunks") or []
    chunks = {}
    if digests:
        for blob in session.scalars(select(Blob).where(Blob.sha256.in_(digests))):
            chunks[blob.sha256] = blob.data.decode()
    return {"encoding": envelope["codec"], "root": envelope["root"], "chunks": chunks}


def latest_artifacts(session: Session, conversation_id: int) -> list[ArtifactVersion]:
    """The newest version of every artifact, by name."""
    return list(session.scalars(_newest_rows(ArtifactVersion, conversation_id).order_by(ArtifactVersion.name)))
