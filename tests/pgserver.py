"""A throwaway PostgreSQL server for tests and benchmarks: initdb in a temp dir, a free port.

PostgreSQL refuses to run as root, and the tests run as root in CI; then the
cluster belongs to the ``postgres`` system user (created by the distribution's
package) and every server command runs through ``runuser``.  Nothing here
touches a system cluster: the data directory, the unix socket and the log live
in one temporary folder that :meth:`PgServer.stop` removes.

Used by tests/conftest.py (session fixture ``pg_server``) and by the bench and
load scripts, which load this file by path.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["PgServer", "PgUnavailable", "find_bin_dir"]

# Fast for tests (no fsync: an OS crash could lose data, a server crash cannot),
# synchronous commit kept on so "committed" means committed across a server restart.
SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "64MB",
    "listen_addresses": "'127.0.0.1'",
    "log_min_messages": "warning",
}


class PgUnavailable(Exception):
    """Why no throwaway server can be started here (the reason a test skips with)."""


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL bin directory that has initdb (Debian layout or PATH)."""
    override = os.environ.get("ENVLOOP_PG_BIN")
    if override:
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster on 127.0.0.1:<free port>, owned by a non-root user."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None or not (found / "initdb").exists():
            raise PgUnavailable("PostgreSQL server binaries (initdb) not found; install the postgresql package")
        self.bin = found
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root and there is no 'postgres' user to own a cluster") from None
            self.user = "postgres"
        self.root = Path(tempfile.mkdtemp(prefix="envloop-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        if self.user:
            shutil.chown(self.root, self.user)
        self._created = 0

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if check and done.returncode != 0:
            raise PgUnavailable(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")
        return done

    def start(self) -> PgServer:
        """initdb (first time) and start the server; returns once it accepts connections."""
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-instructions")
            with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
                for key, value in SETTINGS.items():
                    conf.write(f"{key} = {value}\n")
                conf.write(f"port = {self.port}\nunix_socket_directories = '{self.root}'\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        """Stop (``fast`` ends sessions, ``immediate`` is a crash) and start again on the same port."""
        self.stop(mode)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its SQLAlchemy URL."""
        self._created += 1
        name = f"{prefix}_{self._created}_{uuid.uuid4().hex[:6]}"
        import psycopg

        for attempt in range(50):
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                     autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                break
            except psycopg.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        return self.url(name)
