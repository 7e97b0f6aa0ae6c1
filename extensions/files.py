"""Built-in extension ``files``: read, write and list files in the conversation's workspace.

The worker cannot open files itself (seccomp), so sandbox code reaches its
workspace only through these host functions, and they must never reach
anything outside it. Paths are relative to the workspace (an absolute path is
accepted only if it lies inside). Refused with ``PermissionError``: ``..``
anywhere, absolute paths outside, and any symbolic link on the way, even one
pointing back inside, since a link's target can change between the check and
the use. The check is done twice: first on the path (``lstat`` of every
component and ``realpath``, for a clear message), then again while opening,
one component at a time relative to the parent's descriptor with
``O_NOFOLLOW``, which closes the race with a link swapped in between.

Writes go to a temporary file that is renamed over the target, so a hard link
to an outside file is replaced, not written through; reads refuse files with
more than one hard link for the same reason. Each write also records an
artifact version, so what the code wrote is kept in the conversation's history.
"""

from __future__ import annotations

import contextlib
import errno
import mimetypes
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from envloop.extensions_api import CallContext, HostFunction, function_docs, hookimpl
from envloop.limits import human

MAX_READ_BYTES = 8 << 20
# Below the pipe's frame limit even as base64, so a big write is refused clearly.
MAX_WRITE_BYTES = 2 << 20
MAX_LIST_ENTRIES = 10_000
MAX_PATH_CHARS = 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: a FIFO planted in the workspace must not hang the host on open; it is then refused as not a file.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _parts(fn: str, ctx: CallContext, path: object) -> tuple[str, Path, list[str]]:
    """``path`` checked, the workspace's real path, and the components below it; refuses what leaves it."""
    if type(path) is not str:
        raise TypeError(f"{fn}: path must be a str, not {type(path).__name__}")
    if not path or len(path) > MAX_PATH_CHARS or "\x00" in path:
        raise ValueError(f"{fn}: path must be 1 to {MAX_PATH_CHARS} characters without NUL")
    root = Path(os.path.realpath(ctx.workspace))
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise PermissionError(f"{fn}: {path!r} uses '..'; paths must stay inside the workspace")
    if pure.is_absolute():
        inside = [base for base in (Path(os.path.abspath(ctx.workspace)), root) if pure.is_relative_to(base)]
        if not inside:
            raise PermissionError(f"{fn}: {path!r} is outside the workspace; use a path relative to it")
        pure = pure.relative_to(inside[0])
    parts = [p for p in pure.parts if p not in ("", ".")]
    _check_no_links(fn, path, root, parts)
    return path, root, parts


def _check_no_links(fn: str, path: str, root: Path, parts: list[str]) -> None:
    """``lstat`` each existing component: a symbolic link anywhere is refused by name."""
    current = root
    for part in parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break  # the rest does not exist yet; opening reports it (or creates it)
        except NotADirectoryError:
            raise FileNotFoundError(f"{fn}: {path!r}: {current.parent.name!r} is not a folder") from None
        if stat.S_ISLNK(mode):
            raise PermissionError(f"{fn}: {path!r} goes through the symbolic link {part!r}; links are not followed")
    real = os.path.realpath(root.joinpath(*parts))
    if real != str(root) and not real.startswith(str(root) + os.sep):
        raise PermissionError(f"{fn}: {path!r} is outside the workspace")


@contextlib.contextmanager
def _open_dir(fn: str, path: str, root: Path, parts: list[str], *, create: bool = False) -> Iterator[int]:
    """A descriptor of folder root/parts, walked one component at a time without following links."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        raise FileNotFoundError(f"{fn}: the conversation's workspace folder is missing") from None
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(f"{fn}: no such file or folder {path!r} in the workspace") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _refusal(fn, path, exc, _is_link(part, fd)) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _refusal(fn: str, path: str, exc: OSError, link: bool = False) -> Exception:
    """An OSError as one of the exceptions sandbox code can catch, with a plain message.

    O_NOFOLLOW meeting a link fails with ELOOP (EMLINK on BSD), or ENOTDIR with
    O_DIRECTORY on Linux, so the caller says whether the component is a link.
    """
    if link or exc.errno in (errno.ELOOP, errno.EMLINK):
        return PermissionError(f"{fn}: {path!r} goes through a symbolic link; links are not followed")
    if exc.errno == errno.ENOTDIR:
        return FileNotFoundError(f"{fn}: {path!r}: a part of the path is not a folder")
    if exc.errno == errno.EISDIR:
        return ValueError(f"{fn}: {path!r} is a folder")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionError(f"{fn}: {path!r}: permission denied")
    return ValueError(f"{fn}: {path!r}: {exc.strerror or exc}")


def _read(fn: str, ctx: CallContext, path: object) -> bytes:
    where, root, parts = _parts(fn, ctx, path)
    if not parts:
        raise ValueError(f"{fn}: {path!r} is the workspace folder, not a file")
    with _open_dir(fn, where, root, parts[:-1]) as dir_fd:
        try:
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise FileNotFoundError(f"{fn}: no file {path!r} in the workspace") from None
        except OSError as exc:
            raise _refusal(fn, where, exc) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{fn}: {path!r} is not a regular file")
        if info.st_nlink > 1:
            raise PermissionError(f"{fn}: {path!r} has other hard links, which may lead outside the workspace")
        if info.st_size > MAX_READ_BYTES:
            raise ValueError(f"{fn}: {path!r} is larger than {MAX_READ_BYTES >> 20} MiB")
        data = f.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise ValueError(f"{fn}: {path!r} is larger than {MAX_READ_BYTES >> 20} MiB")
    return data


def read_file(ctx: CallContext, path: object) -> str:
    """The file's text; UTF-8 only, so binary data is never silently mangled."""
    data = _read("read_file", ctx, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"read_file: {path!r} is not UTF-8 text; use read_bytes(path)") from None


def read_bytes(ctx: CallContext, path: object) -> bytes:
    """The file's bytes, exactly."""
    return _read("read_bytes", ctx, path)


def write_file(ctx: CallContext, path: object, content: object) -> int:
    """Write the file (replacing it) and record an artifact version; returns that version."""
    if type(content) is str:
        data, default_type = content.encode("utf-8"), "text/plain"
    elif type(content) is bytes:
        data, default_type = content, "application/octet-stream"
    else:
        raise TypeError(f"write_file: content must be str or bytes, not {type(content).__name__}")
    if len(data) > MAX_WRITE_BYTES:
        raise ValueError(f"write_file: content is larger than {MAX_WRITE_BYTES >> 20} MiB")
    where, root, parts = _parts("write_file", ctx, path)
    if not parts:
        raise ValueError(f"write_file: {path!r} is the workspace folder, not a file")
    _check_quota(ctx, root, parts, len(data))
    with _open_dir("write_file", where, root, parts[:-1], create=True) as dir_fd:
        _replace(where, dir_fd, parts[-1], data)
    name = "/".join(parts)
    media_type = mimetypes.guess_type(name)[0] or default_type
    return ctx.save_artifact(name, data, media_type)


def _check_quota(ctx: CallContext, root: Path, parts: list[str], size: int) -> None:
    """Refuse a write that would take the workspace over its quota (the file it replaces does not count)."""
    if ctx.workspace_bytes is None:
        return
    used = 0
    target = os.path.join(root, *parts)
    for folder, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(folder, name)
            if full != target:
                with contextlib.suppress(OSError):
                    used += os.lstat(full).st_size
    if used + size > ctx.workspace_bytes:
        raise ValueError(f"write_file: not written: the workspace would hold {human(used + size)}, over its "
                         f"quota of {human(ctx.workspace_bytes)} (ENVLOOP_MAX_WORKSPACE_BYTES)")


def _replace(path: str, dir_fd: int, name: str, data: bytes) -> None:
    """Write a temporary file next to ``name`` and rename it over ``name``."""
    temp = f".{name[:50]}.{secrets.token_hex(6)}.tmp"  # well under NAME_MAX even in 4-byte characters
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        mode = os.lstat(name, dir_fd=dir_fd).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise ValueError(f"write_file: {path!r} is a folder")
    if mode is not None and stat.S_ISLNK(mode):
        raise PermissionError(f"write_file: {path!r} is a symbolic link; links are not followed")
    try:
        fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
    except OSError as exc:
        raise _refusal("write_file", path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        if isinstance(exc, OSError):
            raise _refusal("write_file", path, exc) from None
        raise


def list_files(ctx: CallContext, path: object = ".") -> list[str]:
    """Entries of a workspace folder as workspace-relative paths (folders end in '/'), sorted."""
    where, root, parts = _parts("list_files", ctx, path)
    prefix = "".join(f"{p}/" for p in parts)
    with _open_dir("list_files", where, root, parts) as fd, os.scandir(fd) as entries:
        found: list[str] = []
        for entry in entries:
            if len(found) >= MAX_LIST_ENTRIES:
                raise ValueError(f"list_files: {path!r} has more than {MAX_LIST_ENTRIES} entries")
            folder = entry.is_dir(follow_symlinks=False)
            found.append(prefix + entry.name + ("/" if folder else ""))
    return sorted(found)


FUNCTIONS = [
    HostFunction("read_file", read_file, "read", "Read a UTF-8 text file from the workspace.",
                 "read_file(path: str) -> str"),
    HostFunction("read_bytes", read_bytes, "read", "Read a file from the workspace as bytes.",
                 "read_bytes(path: str) -> bytes"),
    HostFunction("write_file", write_file, "write",
                 "Write text or bytes to a workspace file (folders are created); each write is an artifact version.",
                 "write_file(path: str, content: str | bytes) -> int"),
    HostFunction("list_files", list_files, "read", "List a workspace folder; folders end in '/'.",
                 "list_files(path: str = '.') -> list[str]"),
]


@hookimpl
def envloop_functions() -> list[HostFunction]:
    return list(FUNCTIONS)


@hookimpl
def envloop_prompt() -> str:
    return (
        "Workspace files: the conversation has a folder of its own. Code cannot use open(); use these "
        "functions, with paths relative to that folder ('..' and symbolic links are refused):\n"
        + function_docs(FUNCTIONS)
        + f"\nReads are capped at {MAX_READ_BYTES >> 20} MiB and writes at {MAX_WRITE_BYTES >> 20} MiB."
    )
