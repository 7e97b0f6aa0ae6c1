"""Live updates on PostgreSQL: a trigger announces every change to a conversation with NOTIFY.

Whatever process writes a turn, a block, a version or a title, the server
sends ``NOTIFY envloop, '<conversation id>'`` when that transaction commits
(the server folds repeats within one transaction into one), so another
process's open chat or web page can follow without polling
(envloop.store.watch).  SQLite has no NOTIFY: there the watcher polls, and
this revision does nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION envloop_notify_change() RETURNS trigger AS $$
DECLARE
    cid integer;
BEGIN
    IF TG_TABLE_NAME = 'conversations' THEN
        IF TG_OP = 'DELETE' THEN cid := OLD.id; ELSE cid := NEW.id; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        cid := OLD.conversation_id;
    ELSE
        cid := NEW.conversation_id;
    END IF;
    PERFORM pg_notify('envloop', cid::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""

# table → the operations that count as a visible change (lock bookkeeping does not).
TRIGGERS = {
    "queries": "INSERT OR UPDATE OR DELETE",
    "blocks": "INSERT OR DELETE",
    "definition_versions": "INSERT OR DELETE",
    "artifact_versions": "INSERT OR DELETE",
    "conversations": "INSERT OR DELETE OR UPDATE OF title, parent_id",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    for table, events in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER envloop_notify_{table} AFTER {events} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION envloop_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS envloop_notify_{table} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS envloop_notify_change()")
