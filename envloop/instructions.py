"""Per-conversation instructions: an editable playbook beneath the fixed core rules.

The system prompt's core rules (never act irreversibly without the person, ask
rather than guess, never invent data) are fixed. Each conversation may carry
its own instructions beneath them; the prompt says the core rules win on
conflict, so instructions can refine but never weaken them.

Storage: the instructions are versions of the reserved name ``@instructions``
in ``definition_versions`` (the text in ``source``, a tombstone when cleared).
``@`` is not a Python name, so the store never restores it into the sandbox
namespace (:func:`envloop.store.versions.latest_versions` leaves reserved
names out) — and everything that works on versions works on them unchanged:
``history``, ``rollback``, ``undo``/``redo`` (a turn that changed them is
undone like any other), ``fork`` (a fork keeps them), provenance (each version
points at the block that made it: a system block for a person's change, the
model's block for an approved :func:`propose_instructions` call).

A conversation that never had instructions gets its channel's default from the
config file (``[instructions] cli = "..."``, keyed by channel: cli, chat,
telegram, ...); once set or cleared, its own history decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from envloop import settings
from envloop.errors import EnvloopError, NotFoundError
from envloop.store.history import VersionInfo, history
from envloop.store.locks import ConversationLock
from envloop.store.models import Block, Conversation, DefinitionVersion, utcnow

if TYPE_CHECKING:
    from envloop.store.db import Database
    from envloop.timeline import TimelineChange

__all__ = [
    "MAX_CHARS",
    "NAME",
    "Instructions",
    "InstructionsApi",
    "InstructionsError",
    "channel_default",
    "check_text",
    "current",
    "locked",
    "next_version",
    "record_change",
    "versions",
    "write_version",
]

#: The reserved definition name the instructions are versioned under (never a Python name).
NAME = "@instructions"
MAX_CHARS = 8000

Source = Literal["conversation", "default", "cleared", "none"]


class InstructionsError(EnvloopError):
    """Instructions that cannot be used: empty, too long, or not text."""


@dataclass(frozen=True)
class Instructions:
    """The instructions in force for a conversation, and where they come from."""

    conversation_id: int
    channel: str
    text: str | None
    source: Source  # its own version, the channel default, cleared by the person, or none at all
    version: int | None  # the @instructions version in force (None for a default or none)

    def to_json(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "channel": self.channel, "text": self.text,
                "source": self.source, "version": self.version}

    def describe(self) -> str:
        """One line for listings: what is in force and why."""
        if self.source == "conversation":
            return f"conversation {self.conversation_id} instructions v{self.version}"
        if self.source == "default":
            return f"the {self.channel} channel's default from {settings.config_path()}"
        if self.source == "cleared":
            return f"none (cleared in v{self.version})"
        return "none"


def check_text(text: object) -> str:
    """The instructions text, stripped; InstructionsError when it cannot be used."""
    if type(text) is not str:
        raise InstructionsError("instructions must be text")
    stripped = text.strip()
    if not stripped:
        raise InstructionsError("instructions are empty (use `clear` to remove them)")
    if len(stripped) > MAX_CHARS:
        raise InstructionsError(f"instructions are too long ({len(stripped)} characters; at most {MAX_CHARS})")
    return stripped


def channel_default(channel: str, config: dict[str, Any] | None = None) -> str | None:
    """The config file's default instructions for ``channel`` (``[instructions] <channel> = "..."``)."""
    value = settings.section("instructions", config).get(channel)
    if value is None:
        return None
    if type(value) is not str:
        raise settings.ConfigError(f"config file {settings.config_path()}: instructions.{channel} must be a string")
    return value.strip() or None


def _newest(session: Session, conversation_id: int) -> DefinitionVersion | None:
    return session.scalars(
        select(DefinitionVersion)
        .where(DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.name == NAME)
        .order_by(DefinitionVersion.version.desc())
        .limit(1)
    ).first()


def current(session: Session, conversation_id: int, config: dict[str, Any] | None = None) -> Instructions:
    """The instructions in force: the newest version, else the channel default, else none."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFoundError(f"no conversation {conversation_id}")
    row = _newest(session, conversation_id)
    if row is not None:
        if row.kind == "deleted":
            return Instructions(conversation_id, conv.channel, None, "cleared", row.version)
        return Instructions(conversation_id, conv.channel, row.source, "conversation", row.version)
    default = channel_default(conv.channel, config)
    return Instructions(conversation_id, conv.channel, default, "default" if default else "none", None)


def versions(session: Session, conversation_id: int) -> list[DefinitionVersion]:
    """Every version of the conversation's instructions, oldest first."""
    return list(session.scalars(
        select(DefinitionVersion)
        .where(DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.name == NAME)
        .order_by(DefinitionVersion.version)
    ))


def next_version(session: Session, conversation_id: int) -> int:
    """The number the next version of the instructions will get."""
    newest = _newest(session, conversation_id)
    return (newest.version if newest is not None else 0) + 1


def write_version(session: Session, conversation_id: int, text: str | None, *, block_id: int) -> DefinitionVersion:
    """A new version of the instructions (``None``: a tombstone that clears them), made by ``block_id``."""
    number = next_version(session, conversation_id)
    if text is None:
        row = DefinitionVersion(conversation_id=conversation_id, name=NAME, version=number, kind="deleted",
                                preview="<cleared>", block_id=block_id)
    else:
        text = check_text(text)
        first = text.splitlines()[0]
        row = DefinitionVersion(conversation_id=conversation_id, name=NAME, version=number, kind="value",
                                source=text, preview=first[:200] + ("…" if len(text) > len(first[:200]) else ""),
                                type_name="instructions", size=len(text.encode()), block_id=block_id)
    session.add(row)
    session.flush()
    return row


def record_change(session: Session, conversation_id: int, text: str | None) -> tuple[int, DefinitionVersion]:
    """A person's change as a turn of its own (kind "instructions") with a system block; (turn, version).

    Being a turn that wrote a version, it is undone by ``undo`` like any other.
    """
    from envloop.timeline import new_query

    what = "cleared instructions" if text is None else "set instructions"
    query = new_query(session, conversation_id, kind="instructions", text=what, status="done")
    query.finished_at = utcnow()
    block = Block(conversation_id=conversation_id, query_id=query.id, author="system", source=f"# {what}")
    session.add(block)
    session.flush()
    row = write_version(session, conversation_id, text, block_id=block.id)
    query.text = f"{what} (v{row.version})"
    return query.position, row


#: How long a change waits for a turn running on the conversation before saying it is busy.
LOCK_WAIT = 30.0


@contextmanager
def locked(database: Database, conversation_id: int, wait: float = LOCK_WAIT) -> Iterator[None]:
    """The conversation's lock for a short change: wait at most ``wait`` seconds, then ConversationBusyError."""
    lock = ConversationLock(database, conversation_id)
    lock.acquire(wait=wait)
    try:
        yield
    finally:
        lock.release()


class InstructionsApi:
    """The instruction commands of :class:`envloop.conversation.Envloop` (mixed in; needs ``database``).

    Changes take the conversation's lock, so they never interleave with a
    running turn, but need no sandbox: the instructions never enter it.
    """

    database: Database

    def resolve(self, conversation_id: int | None = None) -> int:
        raise NotImplementedError  # provided by envloop.records.Records

    def instructions(self, conversation_id: int | None = None) -> Instructions:
        """The instructions in force for a conversation (default: the most recent one)."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return current(session, cid)

    def set_instructions(self, text: str | None, conversation_id: int | None = None) -> tuple[int, Instructions]:
        """Set (or with ``None`` clear) a conversation's instructions as a turn of their own; (turn, now in force)."""
        cid = self.resolve(conversation_id)
        if text is not None:
            text = check_text(text)
        with locked(self.database, cid), self.database.session(write=True) as session:
            turn, _row = record_change(session, cid, text)
            return turn, current(session, cid)

    def instructions_history(self, conversation_id: int | None = None) -> list[VersionInfo]:
        """Every version of the conversation's instructions, oldest first (empty when never set)."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            if not versions(session, cid):
                return []
            return history(session, cid, NAME)

    def rollback_instructions(self, version: int, conversation_id: int | None = None) -> TimelineChange:
        """A new version of the instructions equal to ``version`` (undoable, like any rollback)."""
        from envloop import timeline

        cid = self.resolve(conversation_id)
        with locked(self.database, cid), self.database.session(write=True) as session:
            made = versions(session, cid)
            if not any(row.version == version for row in made):
                have = f"versions 1 to {made[-1].version}" if made else "none yet"
                raise NotFoundError(f"conversation {cid} has no instructions version {version} ({have})")
            return timeline.rollback(session, cid, NAME, version)
