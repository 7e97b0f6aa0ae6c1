"""Noticing a SQLite database file deleted or replaced under a live process.

SQLite keeps writing to the file it opened: after ``rm`` or a copy over the
path, a live process reports ``x v2`` into an unlinked inode that vanishes
with it, and another process opening the path meets a WAL that is not its
own. So the environment remembers the file's (device, inode) when it starts
and checks it before each block; a changed or missing file is refused with
one clear line, and nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from envloop.errors import StoreError

__all__ = ["FileIdentity"]


class FileIdentity:
    """The (device, inode) a SQLite database had when opened; nothing to check for other back ends."""

    def __init__(self, database: Any) -> None:
        self.path: Path | None = None
        if getattr(database, "is_sqlite", False):
            name = make_url(database.url).database
            if name and name != ":memory:" and not name.startswith("file:"):
                self.path = Path(name).resolve()
        self._identity = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino

    def check(self) -> None:
        """Raise StoreError when the file is gone or is another file than the one opened."""
        if self.path is None or self._identity is None:
            return
        now = self._stat()
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise StoreError(f"the database {self.path} was {what} while this process had it open; "
                             "nothing was written (start envloop again to use the file now at that path)")
