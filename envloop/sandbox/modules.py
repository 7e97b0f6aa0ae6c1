"""The sandbox's imports: an allowlist of exact names, each served as a facade.

``import x`` in sandboxed code calls :func:`safe_import`, which never returns a
real module object.  Each allowed name maps to a read-only :class:`SandboxModule`
holding the vetted attributes listed in ``_facades.SPECS`` (plus the safe
stand-ins of ``_replacements``).  That is what makes the policy's compile-time
attribute check sound: through public attribute names, nothing the sandbox can
name leads to a module, ``sys``, ``os``, ``builtins``, a frame, a code object or a
module's globals dict.  :func:`find_forbidden` walks those paths breadth-first
and the reachability test runs it over every facade, the safe builtins and
instances of common library objects.

Allowed (``ALLOWED_MODULES``)::

    __future__ abc array base64 binascii bisect calendar cmath collections
    collections.abc colorsys contextlib copy csv dataclasses datetime decimal
    difflib enum fnmatch fractions functools graphlib hashlib heapq hmac html io
    ipaddress itertools json keyword math numbers pprint random re secrets
    statistics string struct textwrap time tomllib typing unicodedata urllib
    urllib.parse uuid zlib

Decisions worth knowing:

* ``io`` is ``StringIO``/``BytesIO`` only (``csv`` and ``json.dump`` work on them).
* ``time`` has clocks, ``sleep`` (not capped: the host's wall-clock deadline
  bounds a block), ``strftime``/``strptime`` and the struct_time helpers.
* ``string.Formatter`` is a guarded re-implementation; ``functools.wraps`` only
  copies the default attributes; ``hashlib.new`` only knows the guaranteed
  algorithms; ``pprint.pprint`` and ``calendar.prmonth``/``prcal`` print through
  the sandbox's output (see :func:`set_output`).
* Never allowed: ``sys``, ``os``, ``subprocess``, ``builtins``, ``types``,
  ``operator``, ``inspect``, ``gc``, ``pickle``, ``marshal``, ``ctypes``,
  ``importlib``, ``threading``, ``multiprocessing``, ``timeit``, ``socket``,
  ``logging`` (its loggers reach ``sys`` through ``manager`` and handlers),
  ``zoneinfo`` (reads the tz database from disk on demand, which a worker may no
  longer do), ``locale`` (process-wide state), file-backed ``io``.
"""

from __future__ import annotations

import collections
import importlib
import sys
import types
from collections.abc import Iterable
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from envloop.sandbox._facades import PARENTS, SPECS, SandboxModule, build
from envloop.sandbox._replacements import (  # noqa: F401  (re-exported for the policy)
    check_format_attribute,
    safe_format,
    safe_format_map,
    set_output,
)

__all__ = [
    "ALLOWED_MODULES",
    "SandboxModule",
    "facade",
    "find_forbidden",
    "preload",
    "reachable_modules",
    "safe_format",
    "safe_format_map",
    "safe_import",
    "set_output",
]

ALLOWED_MODULES: frozenset[str] = frozenset(SPECS) | frozenset(PARENTS)
"""Every name ``import`` accepts in the sandbox, exactly (no prefixes, no wildcards)."""

_FACADES: dict[str, SandboxModule] = {}


def facade(name: str) -> SandboxModule:
    """The (cached, shared, read-only) facade for allowed import ``name``."""
    cached = _FACADES.get(name)
    if cached is not None:
        return cached
    if name not in ALLOWED_MODULES:
        raise ImportError(_not_allowed_message(name), name=name)
    children = {child: facade(child) for child in ALLOWED_MODULES if child.startswith(name + ".")}
    built = _FACADES[name] = build(name, children)
    return built


def _not_allowed_message(name: str) -> str:
    return f"module {name!r} is not allowed in the sandbox; allowed: {', '.join(sorted(ALLOWED_MODULES))}"


def safe_import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> SandboxModule | None:
    """The sandbox's ``__import__``: the facade ``import``/``from ... import`` expects.

    Same contract as ``builtins.__import__``: with a ``fromlist`` the named module
    itself is returned (``from collections.abc import Mapping``), without one the
    top-level package (``import urllib.parse`` binds ``urllib``).  ``None`` only
    for the imports C code makes for itself (see :func:`_is_c_level_import`).
    """
    if level != 0:
        raise ImportError("relative imports are not allowed in the sandbox")
    if _is_c_level_import(name, fromlist):
        importlib.import_module(name)  # a no-op after preload(); the result stays in C
        return None
    if type(name) is not str or name not in ALLOWED_MODULES:
        raise ImportError(_not_allowed_message(str(name)), name=str(name))
    if fromlist:
        return facade(name)
    return facade(name.partition(".")[0])


def _is_c_level_import(name: Any, fromlist: Any) -> bool:
    """True for an import C code makes for itself while a sandbox frame is on top.

    ``PyImport_Import`` (behind ``datetime.strptime``'s ``_strptime``, ``_datetime``'s
    ``time``, ...) calls the *current frame's* ``__import__`` with a *list* as
    fromlist (empty; ``['__doc__']`` in old versions), ignores what it returns and
    reads the module from ``sys.modules`` itself.  Nothing reaches the sandbox, so
    it may proceed (after ``preload`` the module is already imported).  Sandboxed
    code cannot produce
    this call: its import statements pass a tuple (or None) as fromlist, never a
    list, and the sandbox cannot name ``__import__``.
    """
    return type(fromlist) is list and fromlist in ([], ["__doc__"]) and type(name) is str


# ---------------------------------------------------------------------------- preload

# Extension modules and helpers that stdlib code imports lazily, on first use.
_LAZY_IMPORTS = ["_strptime", "_datetime", "_decimal", "_json", "_csv", "_heapq", "_bisect", "_random", "_struct", "_statistics", "_sha1", "_sha256", "_sha512", "_md5", "_blake2", "_sha3", "_hashlib", "_uuid", "_contextvars", "unicodedata", "stringprep", "locale", "json.decoder", "json.encoder", "json.scanner", "re._parser", "re._compiler", "re._casefix", "re._constants", "html.entities", "traceback", "linecache", "tokenize", "reprlib", "codecs", "warnings", "weakref", "contextvars"]

_CODECS = ["utf-8", "utf-8-sig", "ascii", "latin-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "cp1252", "cp1251", "cp1250", "cp437", "cp850", "iso8859-2", "iso8859-15", "mac-roman", "koi8-r", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "shift_jis", "euc_jp", "gbk", "gb2312", "big5", "euc_kr"]


def preload() -> None:
    """Import everything a worker may need later, and build every facade.

    Called in the template process before forking: a worker may afterwards be
    forbidden (by seccomp) to open any file, so nothing may be imported lazily
    at the first ``strptime``, ``str.encode('utf-16')`` or ``hashlib.sha3_256()``.
    """
    for name in _LAZY_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:  # optional accelerators absent from this build
            pass
    for name in ALLOWED_MODULES:
        facade(name)
    _warm_up()


def _warm_up() -> None:
    """Exercise the code paths that import or read something on first use."""
    import codecs
    import datetime
    import hashlib
    import hmac
    import time

    for codec in _CODECS:
        codecs.lookup(codec)  # str.encode's C fast paths skip the lookup; other callers do not
        "abc".encode(codec).decode(codec)
    time.localtime()  # libc reads the local timezone file once
    time.strftime("%c %x %X %a %A %b %B %p")
    time.strptime("2024-01-02 03:04:05 Tue Jan PM", "%Y-%m-%d %H:%M:%S %a %b %p")
    datetime.datetime.strptime("2024-01-02T03:04:05+0100", "%Y-%m-%dT%H:%M:%S%z")
    datetime.datetime.now().astimezone()
    for algorithm in sorted(hashlib.algorithms_guaranteed):
        digest = hashlib.new(algorithm, b"x")
        digest.hexdigest(16) if algorithm.startswith("shake") else digest.hexdigest()  # type: ignore[call-arg]
    hashlib.pbkdf2_hmac("sha256", b"x", b"salt", 1)
    hmac.new(b"k", b"m", "sha256").hexdigest()
    hmac.digest(b"k", b"m", "sha256")
    facade("uuid").uuid4()
    facade("secrets").token_hex(4)
    facade("tomllib").loads('a = 1\nb = "x"\n[t]\nc = 2024-01-01')
    facade("urllib").parse.urlparse("http://[::1]:80/p?q=1")
    facade("statistics").NormalDist(0, 1).cdf(0.5)
    facade("difflib").HtmlDiff().make_table(["a"], ["b"])
    _ = facade("ipaddress").ip_network("10.0.0.0/8").is_private
    facade("json").loads(facade("json").dumps({"a": [1.5, None]}, indent=2))
    facade("unicodedata").normalize("NFKD", "é")
    format(1234.5, "n")


# ----------------------------------------------------------------------- reachability

_DANGEROUS_BUILTIN_NAMES = ["eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals", "locals", "vars", "breakpoint", "input", "help", "exit", "quit", "__build_class__"]


def _forbidden_kinds() -> dict[int, str]:
    """id -> description for objects that must never be reachable by the sandbox."""
    import builtins

    kinds: dict[int, str] = {id(vars(builtins)): "the builtins namespace"}
    for name in _DANGEROUS_BUILTIN_NAMES:
        if hasattr(builtins, name):
            kinds[id(getattr(builtins, name))] = f"builtins.{name}"
    for module in list(sys.modules.values()):
        if isinstance(module, types.ModuleType):  # sys.modules may hold stand-in classes
            kinds[id(module.__dict__)] = f"globals of module {module.__name__}"
    kinds[id(sys.modules)] = "sys.modules"
    return kinds


def _describe_forbidden(obj: object, kinds: dict[int, str]) -> str | None:
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}"
    if isinstance(obj, (types.FrameType, types.CodeType, types.TracebackType, types.CellType)):
        return type(obj).__name__
    return kinds.get(id(obj))


def _public_names(obj: object) -> list[str]:
    try:
        names = dir(obj)
    except Exception:  # a broken __dir__ hides nothing we could follow either
        return []
    return [n for n in names if isinstance(n, str) and not n.startswith("_") and n not in INSPECT_ATTRIBUTES]


def _children(obj: object, max_items: int) -> Iterable[tuple[str, object]]:
    """Everything one step away: public attributes, type(obj), container items."""
    yield "<type>", type(obj)
    for name in _public_names(obj):
        try:
            yield "." + name, getattr(obj, name)
        except Exception:  # properties that raise on this instance or class
            continue
    if isinstance(obj, (dict, types.MappingProxyType)):
        for i, (key, value) in enumerate(obj.items()):
            if i >= max_items:
                break
            yield f"[{key!r}]", value
    elif isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
        for i, value in enumerate(obj):
            if i >= max_items:
                break
            yield f"[{i}]", value


def find_forbidden(roots: dict[str, object], max_depth: int = 4, max_items: int = 50) -> list[str]:
    """Breadth-first walk from ``roots`` over public attribute names; report bad finds.

    A path step is a public attribute (no leading underscore, not one of
    RestrictedPython's ``INSPECT_ATTRIBUTES``, which the compiler rejects anyway),
    ``type(x)`` (the sandbox has one-argument ``type``) or an item of a built-in
    container.  Returns ``"path: what"`` for every module, frame, code object,
    traceback, cell, module globals dict or dangerous builtin reached.
    """
    kinds = _forbidden_kinds()
    seen: dict[int, object] = {}  # keeps visited objects alive so ids stay unique
    queue = collections.deque((path, obj, 0) for path, obj in roots.items())
    found: list[str] = []
    while queue:
        path, obj, depth = queue.popleft()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj
        what = _describe_forbidden(obj, kinds)
        if what is not None:
            found.append(f"{path}: {what}")
            continue
        if depth >= max_depth:
            continue
        for step, child in _children(obj, max_items):
            if id(child) not in seen:
                queue.append((path + step if step != "<type>" else f"type({path})", child, depth + 1))
    return found


def reachable_modules(max_depth: int = 4) -> list[str]:
    """:func:`find_forbidden` over every allowed facade; empty when the policy holds."""
    return find_forbidden({name: facade(name) for name in sorted(ALLOWED_MODULES)}, max_depth)
