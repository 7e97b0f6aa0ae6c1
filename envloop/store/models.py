"""SQLAlchemy models: the whole entity graph of envloop in one database.

    Conversation ─┬─ Query (a turn) ── Iteration (one LLM round trip) ── Block
                  │                                                     │
                  ├─ DefinitionVersion (name, version) ◄── made by ─────┤
                  │        ▲  └─ ReadSet (what its block read, once) ──► │
                  └─ ArtifactVersion (name, version) ◄── made by ───────┘
                           └─ content in Blob (content-addressed, stored once)

Blocks run outside a turn (``envloop run``, ``!code`` in the chat) have no
iteration; their ``query_id`` points at the turn-like record of that run so
``undo`` can treat both alike.  System prompts are stored once by hash.

Schema changes go through Alembic revisions in ``migrations/``; a test checks
that the models and the migrated schema agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AUTHORS",
    "ArtifactVersion",
    "Base",
    "Blob",
    "Block",
    "Conversation",
    "DEFINITION_KINDS",
    "DefinitionVersion",
    "Iteration",
    "ProvenanceEdge",
    "Query",
    "QUERY_STATUSES",
    "ReadSet",
    "ReadSetItem",
    "SystemPrompt",
    "utcnow",
]

QUERY_STATUSES = ("running", "done", "error", "interrupted", "cancelled", "budget_exhausted")
AUTHORS = ("llm", "user", "system")
DEFINITION_KINDS = ("value", "function", "class", "import", "deleted")

# Stable constraint names keep Alembic migrations and autogenerate comparisons exact.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_conversations_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32), default="cli")
    external_id: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    # The fork point: this conversation starts from the parent's state after that turn.
    fork_turn: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The cross-process conversation lock lives in the database, so it works
    # for several envloop processes on one SQLite file or one PostgreSQL server.
    lock_owner: Mapped[str | None] = mapped_column(String(120))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    queries: Mapped[list[Query]] = relationship(
        back_populates="conversation", foreign_keys="Query.conversation_id", order_by="Query.position"
    )


class SystemPrompt(Base):
    __tablename__ = "system_prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)


class Query(Base):
    """One turn: a user message and its answer (or a direct code run)."""

    __tablename__ = "queries"
    __table_args__ = (
        UniqueConstraint("conversation_id", "position"),
        CheckConstraint(_in("status", QUERY_STATUSES), name="status"),
        Index("ix_queries_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="turn")  # "turn" or "run"
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="running")
    answer: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float | None] = mapped_column(Float)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    iteration_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    conversation: Mapped[Conversation] = relationship(
        back_populates="queries", foreign_keys=[conversation_id]
    )
    iterations: Mapped[list[Iteration]] = relationship(
        back_populates="query", order_by="Iteration.position"
    )


class Iteration(Base):
    """One LLM round trip inside a turn, with exactly what was sent and received."""

    __tablename__ = "iterations"
    __table_args__ = (UniqueConstraint("query_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    system_prompt_id: Mapped[int | None] = mapped_column(ForeignKey("system_prompts.id"))
    prompt: Mapped[str] = mapped_column(Text, default="")  # the user message actually sent
    raw_reply: Mapped[str | None] = mapped_column(Text)
    thinking: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float | None] = mapped_column(Float)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    query: Mapped[Query] = relationship(back_populates="iterations")
    system_prompt: Mapped[SystemPrompt | None] = relationship()


class Block(Base):
    """One code block as it ran: source, author, output, error, limit hit."""

    __tablename__ = "blocks"
    __table_args__ = (
        CheckConstraint(_in("author", AUTHORS), name="author"),
        Index("ix_blocks_conversation_id", "conversation_id", "id"),
        Index("ix_blocks_query_id", "query_id"),
        Index("ix_blocks_iteration_id", "iteration_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    query_id: Mapped[int | None] = mapped_column(ForeignKey("queries.id", ondelete="CASCADE"))
    iteration_id: Mapped[int | None] = mapped_column(ForeignKey("iterations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    author: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(Text)
    stdout: Mapped[str] = mapped_column(Text, default="")
    result_preview: Mapped[str | None] = mapped_column(Text)
    error_type: Mapped[str | None] = mapped_column(String(120))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_line: Mapped[int | None] = mapped_column(Integer)
    limit_hit: Mapped[str | None] = mapped_column(String(16))
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Blob(Base):
    """Content-addressed bytes: identical content is stored once."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class DefinitionVersion(Base):
    """One numbered state of a named value, function, class or import."""

    __tablename__ = "definition_versions"
    __table_args__ = (
        UniqueConstraint("conversation_id", "name", "version"),
        CheckConstraint(_in("kind", DEFINITION_KINDS), name="kind"),
        Index("ix_definition_versions_block_id", "block_id"),
        Index("ix_definition_versions_conversation_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    source: Mapped[str | None] = mapped_column(Text)  # functions, classes, imports
    encoding: Mapped[str | None] = mapped_column(String(20))  # codec format of value_sha256
    value_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    # The digest of the value's own encoding: equal for equal values, whether stored alone or with
    # names that share objects with it (value_sha256 then differs).
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    lost_reason: Mapped[str | None] = mapped_column(Text)  # set when the value could not be encoded
    preview: Mapped[str | None] = mapped_column(Text)
    type_name: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger)
    block_id: Mapped[int | None] = mapped_column(ForeignKey("blocks.id", ondelete="SET NULL"))
    rolled_back_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("definition_versions.id", ondelete="SET NULL")
    )
    # What the block that made this version read (shared by everything that block wrote).
    read_set_id: Mapped[int | None] = mapped_column(ForeignKey("read_sets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    block: Mapped[Block | None] = relationship()


class ArtifactVersion(Base):
    """One numbered state of a named file-like output; content lives in a Blob."""

    __tablename__ = "artifact_versions"
    __table_args__ = (
        UniqueConstraint("conversation_id", "name", "version"),
        Index("ix_artifact_versions_block_id", "block_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    media_type: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    block_id: Mapped[int | None] = mapped_column(ForeignKey("blocks.id", ondelete="SET NULL"))
    read_set_id: Mapped[int | None] = mapped_column(ForeignKey("read_sets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReadSet(Base):
    """What one block read, stored once; every version the block wrote points at it.

    N names written after N reads cost N + N rows, not N x N edges.
    """

    __tablename__ = "read_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))


class ReadSetItem(Base):
    """One version (definition or artifact) in a block's read set."""

    __tablename__ = "read_set_items"
    __table_args__ = (
        CheckConstraint(
            "(read_definition_version_id IS NULL) <> (read_artifact_version_id IS NULL)",
            name="one_source",
        ),
        Index("ix_read_set_items_read_set_id", "read_set_id"),
        Index("ix_read_set_items_read_definition_version_id", "read_definition_version_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    read_set_id: Mapped[int] = mapped_column(ForeignKey("read_sets.id", ondelete="CASCADE"))
    read_definition_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("definition_versions.id", ondelete="CASCADE")
    )
    read_artifact_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifact_versions.id", ondelete="CASCADE")
    )


class ProvenanceEdge(Base):
    """A version (definition or artifact) → one version it came from, outside a read set.

    Rollbacks and forks use it (one edge each); blocks record what they read
    as a :class:`ReadSet` instead.
    """

    __tablename__ = "provenance_edges"
    __table_args__ = (
        CheckConstraint(
            "(definition_version_id IS NULL) <> (artifact_version_id IS NULL)", name="one_target"
        ),
        CheckConstraint(
            "(read_definition_version_id IS NULL) <> (read_artifact_version_id IS NULL)",
            name="one_source",
        ),
        Index("ix_provenance_edges_definition_version_id", "definition_version_id"),
        Index("ix_provenance_edges_artifact_version_id", "artifact_version_id"),
        Index("ix_provenance_edges_read_definition_version_id", "read_definition_version_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("definition_versions.id", ondelete="CASCADE")
    )
    artifact_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifact_versions.id", ondelete="CASCADE")
    )
    read_definition_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("definition_versions.id", ondelete="CASCADE")
    )
    read_artifact_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifact_versions.id", ondelete="CASCADE")
    )
