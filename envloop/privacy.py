"""Deleting and pruning, at the application level: the conversation layer's side of the retention commands.

:mod:`envloop.store.retention` does the SQL; this adds what only the
application knows — the live sandbox of a conversation (stopped first), its
lock (so nothing deletes under a running turn), and its workspace folder.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from envloop.instructions import locked
from envloop.store import retention

if TYPE_CHECKING:
    from envloop.store.db import Database

__all__ = ["PrivacyApi"]


class PrivacyApi:
    """Mixed into :class:`envloop.conversation.Envloop`; needs ``database``, ``resolve``, ``workspace``, ``evict``."""

    database: Database

    def resolve(self, conversation_id: int | None = None) -> int:
        raise NotImplementedError  # provided by envloop.records.Records

    def workspace(self, conversation_id: int) -> Path:
        raise NotImplementedError  # provided by envloop.conversation.Envloop

    def evict(self, conversation_id: int) -> None:
        raise NotImplementedError  # provided by envloop.conversation.Envloop

    def delete_conversation(self, conversation_id: int) -> retention.DeleteReport:
        """Delete a conversation: its rows, the blobs only it used, and its workspace folder.

        Takes the conversation's lock first (waiting up to 30 s), so a turn running
        in another process finishes, or the call fails as busy, rather than losing rows mid-write.
        """
        cid = self.resolve(conversation_id)
        self.evict(cid)
        folder = self.workspace(cid)
        with locked(self.database, cid), self.database.session(write=True) as session:
            report = retention.delete_conversation(session, cid)
        if folder.exists():
            report.workspace_bytes = retention.folder_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
        return report

    def prune(self, older_than: timedelta, *, keep_named: bool = False) -> retention.PruneReport:
        """Drop old iterations' prompts and replies and old blocks' outputs; every version stays."""
        with self.database.session(write=True) as session:
            return retention.prune(session, older_than, keep_named=keep_named)

    def vacuum(self, *, full: bool = False) -> tuple[int, int]:
        """Give free space back to the file system or server; (bytes before, bytes after)."""
        return retention.vacuum(self.database, full=full)
