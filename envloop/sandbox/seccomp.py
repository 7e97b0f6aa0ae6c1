"""The seccomp filter a worker loads after the fork.

Why a default-deny allowlist rather than "allow everything but a list":
a deny-list has to name every dangerous syscall the kernel will ever grow
(io_uring_setup, pidfd_getfd, process_madvise, bpf, userfaultfd, new
``*at2`` variants ...), and a forgotten one is an escape. A worker whose
imports are all done needs a small, stable set: memory management, futexes,
signals, clocks, reads and writes on the descriptors it already holds, and
``getrandom``. Anything else fails with EPERM, which CPython turns into an
ordinary ``OSError`` rather than a crash.

Specific answers where they matter:

* ``open``/``openat``/``creat`` and the path-mutating family fail with
  EACCES: the template imported everything, so a worker never needs a file,
  and ``PermissionError`` is what code expects from a refused open.
* ``clone`` is allowed only with ``CLONE_THREAD`` (a thread, not a process):
  glibc's ``fork()`` and ``posix_spawn`` are ``clone`` without it.
  ``clone3`` and ``openat2`` fail with ENOSYS because their flags live in a
  struct seccomp cannot inspect; ENOSYS makes glibc fall back to ``clone``,
  which the filter can judge.
* ``kill``/``tkill`` are refused and ``tgkill`` only reaches the worker's own
  process: the host and other workers run as the same user.
* ``prlimit64`` may read any limit but change only the worker's own
  (pid 0 = self): the worker sets its limits after the filter is in place
  and re-arms its CPU backstop before each block. Without privileges a
  process can never raise a hard limit, so code inside cannot undo them.
* ``ioctl`` and ``fcntl`` are limited to the requests CPython itself issues
  on its descriptors (TIOCSTI, F_SETOWN and friends are unreachable).

The program is compiled once in the template with a placeholder where the
worker's pid goes (:func:`build_program`); a worker patches its own pid in
and loads it with two ``prctl`` calls (:meth:`Program.load`), which costs
the kernel's check of the program instead of a libseccomp compile per
conversation. A pre-forked spare worker loads it before it is handed out, so
``chdir`` and lowering its own rlimits stay allowed (they open nothing, and
a hard limit once lowered cannot be raised again).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Any

__all__ = ["PID_PLACEHOLDER", "Program", "SeccompUnavailable", "build_program", "load_prctl"]

#: A value no real pid takes (pid_max is at most 2**22); replaced in each worker.
PID_PLACEHOLDER = 0x5EC0_0BAD

_CLONE_THREAD = 0x0001_0000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
# ioctl requests CPython issues on its own descriptors: TCGETS (isatty),
# FIONBIO (setblocking), FIOCLEX / FIONCLEX (set_inheritable), FIONREAD.
_IOCTLS = (0x5401, 0x5421, 0x5451, 0x5450, 0x541B)
# fcntl commands CPython uses: F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL,
# F_DUPFD_CLOEXEC. Not F_SETOWN / F_SETSIG: with O_ASYNC they make the kernel
# signal any process of the same user (the host) on socket activity.
_FCNTLS = (0, 1, 2, 3, 4, 1030)

_ALLOWED = (
    # reading and writing descriptors the worker already holds
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close",
    "dup", "dup2", "dup3", "fstat", "newfstatat", "statx", "stat", "lstat",
    "fstatfs", "recvfrom", "sendto", "recvmsg", "sendmsg", "shutdown",
    "getsockname", "getpeername", "getsockopt", "poll", "ppoll", "select",
    "pselect6", "getcwd", "chdir",
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore",
    # threads and futexes (clone is handled below)
    "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
    # signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
    "rt_sigsuspend", "rt_sigtimedwait", "sigaltstack", "restart_syscall",
    # identity, clocks, randomness, limits
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
    "getgroups", "getresuid", "getresgid", "getpgrp", "getpgid", "getsid",
    "uname", "sysinfo", "getrusage", "times", "getrlimit",
    "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday", "time",
    "nanosleep", "getrandom",
    "exit", "exit_group",
)

_EACCES = (
    "open", "openat", "creat", "open_by_handle_at", "name_to_handle_at",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod",
    "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "truncate", "ftruncate", "mknod", "mknodat", "utime", "utimes", "utimensat",
    "futimesat", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
    "lremovexattr", "fremovexattr", "memfd_create", "fchdir", "chroot",
)

_ENOSYS = ("clone3", "openat2")

#: Refused by the second filter, loaded once the worker has entered its workspace: with
#: them a compromised worker could still probe the host's files (existence, size, owner,
#: times) and move its working directory.  glibc's ``fstat`` is ``newfstatat`` with an
#: empty path, so descriptor stats go too: a worker holds only its socket by then.
_READY_EACCES = ("chdir", "fchdir", "stat", "lstat", "newfstatat", "statx", "fstatat64", "stat64",
                 "lstat64", "readlink", "readlinkat", "access", "faccessat", "faccessat2",
                 "statfs", "fstatfs", "getxattr", "lgetxattr", "listxattr", "llistxattr")


class SeccompUnavailable(RuntimeError):
    """libseccomp or the kernel's seccomp support is missing."""


def build_program() -> Program:
    """Compile the worker filter, with :data:`PID_PLACEHOLDER` where the pid goes.

    Runs in the template (once); raises :class:`SeccompUnavailable` when
    libseccomp cannot be loaded or refuses the filter.
    """
    try:
        import pyseccomp as sc
    except (ImportError, OSError, RuntimeError) as exc:
        raise SeccompUnavailable(f"libseccomp is not available ({exc})") from None
    try:
        flt = sc.SyscallFilter(sc.ERRNO(errno.EPERM))
        _add_rules(sc, flt)
        program = Program(_export(flt))
        ready = sc.SyscallFilter(sc.ALLOW)
        for name in _READY_EACCES:
            _rule(sc, ready, sc.ERRNO(errno.EACCES), name)
        program.ready = Program(_export(ready), needs_pid=False)
        program.tz = posix_tz()
        return program
    except (OSError, RuntimeError, ValueError) as exc:
        raise SeccompUnavailable(f"could not build the seccomp filter ({exc})") from None


def _add_rules(sc: Any, flt: Any) -> None:
    """Add every rule of the policy described in the module docstring."""
    for name in _ALLOWED:
        _rule(sc, flt, sc.ALLOW, name)
    for name in _EACCES:
        _rule(sc, flt, sc.ERRNO(errno.EACCES), name)
    for name in _ENOSYS:
        _rule(sc, flt, sc.ERRNO(errno.ENOSYS), name)
    _rule(sc, flt, sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, _CLONE_THREAD))
    _rule(sc, flt, sc.ALLOW, "tgkill", sc.Arg(0, sc.EQ, PID_PLACEHOLDER))
    _rule(sc, flt, sc.ALLOW, "prlimit64", sc.Arg(2, sc.EQ, 0))
    _rule(sc, flt, sc.ALLOW, "prlimit64", sc.Arg(0, sc.EQ, 0))
    # stacking a further filter only ever narrows what is allowed (see Program.load_ready)
    _rule(sc, flt, sc.ALLOW, "prctl", sc.Arg(0, sc.EQ, _PR_SET_NO_NEW_PRIVS))
    _rule(sc, flt, sc.ALLOW, "prctl", sc.Arg(0, sc.EQ, _PR_SET_SECCOMP))
    for command in _FCNTLS:
        _rule(sc, flt, sc.ALLOW, "fcntl", sc.Arg(1, sc.EQ, command))
    for request in _IOCTLS:
        _rule(sc, flt, sc.ALLOW, "ioctl", sc.Arg(1, sc.EQ, request))


def _rule(sc: Any, flt: Any, action: int, name: str, *args: Any) -> None:
    """Add one rule; a syscall this architecture lacks is simply skipped."""
    try:
        number = sc.resolve_syscall(sc.system_arch(), name)
    except (OSError, ValueError):
        return
    if number < 0:
        return
    flt.add_rule(action, name, *args)


def _export(flt: Any) -> bytes:
    """Return the filter as raw ``struct sock_filter`` bytes."""
    fd = os.memfd_create("envloop-seccomp", os.MFD_CLOEXEC)
    with os.fdopen(fd, "w+b") as file:
        flt.export_bpf(file)
        size = os.lseek(fd, 0, os.SEEK_CUR)
        return os.pread(fd, size, 0)


_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Program:
    """A compiled filter, ready to load; built in the template, loaded in each worker.

    The instruction buffer and the ``sock_fprog`` header are allocated here,
    once, so a worker only writes its pid into the placeholder slots and
    makes two ``prctl`` calls.
    """

    def __init__(self, code: bytes, *, needs_pid: bool = True) -> None:
        self._buffer = ctypes.create_string_buffer(code, len(code))
        self._fprog = _SockFprog(len(code) // _INSN.size, ctypes.addressof(self._buffer))
        self._pid_slots = tuple(
            offset for offset in range(0, len(code), _INSN.size)
            if _INSN.unpack_from(code, offset)[3] == PID_PLACEHOLDER
        )
        if needs_pid and not self._pid_slots:
            raise SeccompUnavailable("the compiled filter lost its pid placeholder")
        self._prctl = load_prctl()
        #: The second filter, stacked by :meth:`load_ready` once the worker is in its workspace.
        self.ready: Program | None = None
        self.tz: str | None = None

    def __len__(self) -> int:
        return len(self._buffer)

    def load(self, pid: int) -> None:
        """Install the filter for this process with ``pid`` as its own pid.

        Irreversible: the filter stays for the life of the process and is
        inherited by anything it might start. Raises
        :class:`SeccompUnavailable` when the kernel refuses.
        """
        view = memoryview(self._buffer).cast("B")
        for offset in self._pid_slots:
            code, jt, jf, _ = _INSN.unpack_from(view, offset)
            _INSN.pack_into(view, offset, code, jt, jf, pid)
        prctl = self._prctl
        if prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise SeccompUnavailable(f"PR_SET_NO_NEW_PRIVS failed: {os.strerror(ctypes.get_errno())}")
        if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog), 0, 0) != 0:
            raise SeccompUnavailable(f"seccomp filter refused: {os.strerror(ctypes.get_errno())}")


    def load_ready(self) -> None:
        """Stack the "ready" filter (no more ``chdir``, no stat of any path); irreversible.

        Local time keeps working: the zone's rules go into ``TZ`` as a POSIX string
        first (see :func:`posix_tz`), since glibc re-stats ``/etc/localtime`` on every
        ``localtime()`` and falls back to UTC when it cannot.
        """
        if self.ready is None:
            return
        if "TZ" not in os.environ and self.tz:
            os.environ["TZ"] = self.tz
            import time

            time.tzset()
        self.ready.load(0)


def posix_tz(path: str = "/etc/localtime") -> str | None:
    """The POSIX TZ rule at the end of a TZif v2+ file (``CET-1CEST,M3.5.0,M10.5.0/3``), if any."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(file.tell() - 256, 0))
            tail = file.read()
    except OSError:
        return None
    lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
    if len(lines) != 2 or not lines[1] or not lines[1].isascii():
        return None
    return lines[1].decode("ascii")


def load_prctl() -> Any:
    """Return libc's ``prctl`` with its argument types declared.

    Declared, because ``prctl`` is variadic over ``unsigned long`` and ctypes
    would otherwise pass plain ints, leaving the upper register half undefined.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl
