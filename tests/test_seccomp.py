"""The seccomp layer, proven with unrestricted Python inside the worker (debug_exec).

RestrictedPython is a policy layer, not a boundary: these tests assume the
policy was already escaped and check that the process still reaches nothing.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from envloop.sandbox import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path):
    with Sandbox(tmp_path / "ws", timeout=5.0, _allow_debug_exec=True) as sb:
        if not sb.seccomp:
            pytest.skip("seccomp is not available on this machine")
        yield sb


_ERRNO = """
import errno
def attempt(action):
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    except ValueError as exc:  # resource.setrlimit reports EPERM as ValueError
        return "EPERM" if "not allowed" in str(exc) else repr(exc)
    return "ALLOWED"
"""


def _raw(sb: Sandbox, source: str) -> str:
    """Run raw Python (with ``attempt``) in the worker; return what it printed.

    The worker must survive every refused syscall: a refusal is an ordinary error.
    """
    result = sb._debug_exec(_ERRNO + textwrap.dedent(source))
    assert result.ok, result.error
    assert sb.restarts == 0
    return result.stdout.strip()


def test_cannot_open_a_socket(sandbox: Sandbox) -> None:
    out = _raw(sandbox, """
        import socket
        print(attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
              attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
              attempt(lambda: socket.socketpair()))
    """)
    assert out.split() == ["EPERM", "EPERM", "EPERM"]


def test_cannot_write_or_create_files(sandbox: Sandbox, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "existing.txt").write_text("original")
    out = _raw(sandbox, """
        import os
        print(attempt(lambda: open("new.txt", "w")),
              attempt(lambda: open("existing.txt", "a")),
              attempt(lambda: os.mkdir("folder")),
              attempt(lambda: os.unlink("existing.txt")),
              attempt(lambda: os.rename("existing.txt", "moved.txt")),
              attempt(lambda: os.symlink("/etc/passwd", "link")),
              attempt(lambda: os.chmod("existing.txt", 0o777)),
              attempt(lambda: os.truncate("existing.txt", 0)))
    """)
    assert set(out.split()) == {"EACCES"}
    assert sorted(p.name for p in workspace.iterdir()) == ["existing.txt"]
    assert (workspace / "existing.txt").read_text() == "original"


def test_cannot_open_a_file_for_reading(sandbox: Sandbox) -> None:
    out = _raw(sandbox, """
        print(attempt(lambda: open("/etc/passwd").read()),
              attempt(lambda: open("/proc/self/maps").read()))
    """)
    assert out.split() == ["EACCES", "EACCES"]


def test_cannot_exec(sandbox: Sandbox) -> None:
    out = _raw(sandbox, """
        import os
        print(attempt(lambda: os.execv("/bin/sh", ["sh", "-c", "true"])),
              attempt(lambda: os.execve("/bin/sh", ["sh"], {})))
    """)
    assert out.split() == ["EPERM", "EPERM"]


def test_cannot_start_a_process(sandbox: Sandbox) -> None:
    out = _raw(sandbox, """
        import os, subprocess
        print(attempt(os.fork),
              attempt(lambda: os.posix_spawn("/bin/true", ["true"], {})),
              attempt(lambda: subprocess.run(["/bin/true"])))
    """)
    assert out.split() == ["EPERM", "EPERM", "EPERM"]


def test_threads_still_work(sandbox: Sandbox) -> None:
    out = _raw(sandbox, """
        import threading
        seen = []
        t = threading.Thread(target=lambda: seen.append("ran"))
        t.start(); t.join()
        print(seen)
    """)
    assert out == "['ran']"


def test_clone3_and_openat2_fail_with_enosys(sandbox: Sandbox) -> None:
    out = _raw(sandbox, """
        import ctypes, errno
        libc = ctypes.CDLL(None, use_errno=True)
        codes = []
        for number in (435, 437):  # clone3, openat2: the same number on every architecture
            libc.syscall(number, 0, 0, 0)
            codes.append(errno.errorcode[ctypes.get_errno()])
        print(*codes)
    """)
    assert out.split() == ["ENOSYS", "ENOSYS"]


def test_cannot_trace_or_signal_other_processes(sandbox: Sandbox) -> None:
    host = os.getpid()
    out = _raw(sandbox, f"""
        import ctypes, errno, os, resource
        libc = ctypes.CDLL(None, use_errno=True)
        PTRACE_ATTACH = 16
        rc = libc.ptrace(PTRACE_ATTACH, {host}, 0, 0)
        print("ptrace", rc, errno.errorcode[ctypes.get_errno()])
        print("kill", attempt(lambda: os.kill({host}, 0)), attempt(lambda: os.kill(os.getppid(), 0)))
        print("prlimit", attempt(lambda: resource.prlimit({host}, resource.RLIMIT_NOFILE, (1, 1))))
        print("raise", attempt(lambda: resource.setrlimit(resource.RLIMIT_AS, (-1, -1))))
        import fcntl, socket
        F_SETOWN, F_SETSIG = 8, 10  # with O_ASYNC: signal the host on socket activity
        def is_socket(fd):  # not fstat: the ready filter refuses every stat
            try:
                socket.socket(fileno=fd).detach()
                return True
            except OSError:
                return False
        mine = next(fd for fd in range(3, 64) if is_socket(fd))
        print("sigio", attempt(lambda: fcntl.fcntl(mine, F_SETOWN, {host})),
              attempt(lambda: fcntl.fcntl(mine, F_SETSIG, 9)))
    """)
    assert out.splitlines() == ["ptrace -1 EPERM", "kill EPERM EPERM", "prlimit EPERM", "raise EPERM",
                                "sigio EPERM EPERM"]


def test_no_stat_of_host_paths_and_no_chdir_once_ready(sandbox: Sandbox, tmp_path: Path) -> None:
    """Issue 13: an escaped block learnt which host files exist (and their sizes) through stat."""
    secret = tmp_path / "secret.db"
    secret.write_bytes(b"x" * 1234)
    out = _raw(sandbox, f"""
        import os
        print(attempt(lambda: os.stat({str(secret)!r})), attempt(lambda: os.lstat('/etc/passwd')),
              attempt(lambda: os.path.exists('/etc/passwd') or os.stat('/etc/passwd')),
              attempt(lambda: os.chdir('/')), attempt(lambda: os.listdir('/')),
              attempt(lambda: os.readlink('/proc/self/exe')), attempt(lambda: os.access('/etc', os.R_OK) or
                                                                       os.stat('/etc')))
    """)
    assert out.split() == ["EACCES"] * 4 + ["EACCES", "EACCES", "EACCES"], out


def test_blocks_still_run_after_the_ready_filter(sandbox: Sandbox) -> None:
    result = sandbox.run("import time, datetime\nt = time.localtime()\n"
                         "print(t.tm_year > 2000, datetime.datetime.now().year > 2000, sorted({3, 1}))")
    assert result.ok, result.error
    assert result.stdout == "True True [1, 3]\n"


def test_local_time_rules_survive_the_ready_filter() -> None:
    """glibc re-stats /etc/localtime on each localtime(); the worker gets the rule as TZ instead."""
    from envloop.sandbox.seccomp import posix_tz

    berlin = Path("/usr/share/zoneinfo/Europe/Berlin")
    if not berlin.exists():
        pytest.skip("no zoneinfo database on this machine")
    assert posix_tz(str(berlin)) == "CET-1CEST,M3.5.0,M10.5.0/3"
    assert posix_tz("/nonexistent") is None
