"""Read sets: what a block read is stored once and every version it wrote refers to it.

Before, each version a block wrote got one provenance edge per name the block
read: N names written after N reads made N x N rows (1,000 lists appended to by
one function: a million rows).  Now the reads go into one ``read_sets`` row with
its ``read_set_items`` and each version (or artifact version) points at it:
N + N rows.  Existing edges stay in ``provenance_edges`` and are still read, so
no data moves; rollbacks and forks keep using single edges there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 08:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "read_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_read_sets_conversation_id_conversations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_sets")),
    )
    op.create_table(
        "read_set_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("read_set_id", sa.Integer(), nullable=False),
        sa.Column("read_definition_version_id", sa.Integer(), nullable=True),
        sa.Column("read_artifact_version_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("(read_definition_version_id IS NULL) <> (read_artifact_version_id IS NULL)",
                           name=op.f("ck_read_set_items_one_source")),
        sa.ForeignKeyConstraint(["read_artifact_version_id"], ["artifact_versions.id"],
                                name=op.f("fk_read_set_items_read_artifact_version_id_artifact_versions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["read_definition_version_id"], ["definition_versions.id"],
                                name=op.f("fk_read_set_items_read_definition_version_id_definition_versions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["read_set_id"], ["read_sets.id"],
                                name=op.f("fk_read_set_items_read_set_id_read_sets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_set_items")),
    )
    with op.batch_alter_table("read_set_items", schema=None) as batch_op:
        batch_op.create_index("ix_read_set_items_read_set_id", ["read_set_id"], unique=False)
        batch_op.create_index("ix_read_set_items_read_definition_version_id", ["read_definition_version_id"],
                              unique=False)
    for table in ("definition_versions", "artifact_versions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("read_set_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f(f"fk_{table}_read_set_id_read_sets"), "read_sets",
                                        ["read_set_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    for table in ("artifact_versions", "definition_versions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"fk_{table}_read_set_id_read_sets"), type_="foreignkey")
            batch_op.drop_column("read_set_id")
    with op.batch_alter_table("read_set_items", schema=None) as batch_op:
        batch_op.drop_index("ix_read_set_items_read_definition_version_id")
        batch_op.drop_index("ix_read_set_items_read_set_id")
    op.drop_table("read_set_items")
    op.drop_table("read_sets")
