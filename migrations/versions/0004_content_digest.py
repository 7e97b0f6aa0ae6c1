"""A version's content digest: the digest of its value's own encoding.

Names that share objects are stored together (one encoding of all of them), so
a name whose value did not change gets a new version with a different
``value_sha256`` when a new name comes to share its objects. ``content_sha256``
is what the value alone encodes to, so stale marks (envloop.stale) see that the
value is the same. Nullable: older versions keep comparing ``value_sha256``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("definition_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("definition_versions", schema=None) as batch_op:
        batch_op.drop_column("content_sha256")
