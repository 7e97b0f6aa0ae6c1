"""The public API for envloop extensions: host functions sandbox code can call.

No host object ever enters the sandbox worker. An extension's capabilities are
*host functions*: the worker holds a stub per name that sends the call's
arguments (plain JSON data; bytes as ``{"__bytes__": base64}``) to the host,
where :meth:`ExtensionSet.call` checks them, asks the person's approval when the
function is irreversible, runs ``fn(ctx, *args, **kwargs)`` and sends back
plain data. An extension is a module (or object) implementing some of the hooks
in :mod:`envloop.hookspecs`::

    # my_ext.py
    from envloop.extensions_api import CallContext, HostFunction, hookimpl

    def shout(ctx: CallContext, text: str) -> str:
        if type(text) is not str:          # type(), not isinstance(): no str subclasses
            raise TypeError("shout(text): text must be a str")
        return text.upper()

    @hookimpl
    def envloop_functions():
        return [HostFunction("shout", shout, "read", "Upper-case a text.", "shout(text: str) -> str")]

Hooks (exact signatures; every hook is optional):

- ``envloop_functions() -> list[HostFunction]``
- ``envloop_prompt() -> str | None``
- ``envloop_nudges(state: dict[str, Any]) -> list[str] | None``

Where extensions come from, in this order (:func:`load_extensions`):

1. the built-ins ``files`` and ``llm`` (``envloop.extensions.files`` / ``.llm``),
   registered through the same hooks as everything else;
2. installed packages declaring an entry point in the group
   ``envloop.extensions`` (the entry point's name is the extension's name);
3. every module named in ``ENVLOOP_EXTENSIONS`` (comma-separated import paths,
   e.g. ``ENVLOOP_EXTENSIONS=my_ext`` with ``my_ext.py`` on ``PYTHONPATH``) -
   the way to load a local extension during development and in tests.

A plugin that fails to import, a bad hook, or two functions with one name make
loading fail with one :class:`~envloop.errors.ExtensionError` naming the culprit,
rather than a conversation that silently lacks a function.

Calls: an unknown name raises ``NameError``; an ``irreversible`` function first
asks ``ctx.approve(name, description)`` and raises ``PermissionError`` if the
person says no; the function's own ``TypeError``, ``ValueError``,
``LookupError``, ``PermissionError``, ``FileNotFoundError``, ``RuntimeError``,
``TimeoutError`` and envloop errors pass through (the worker re-raises them in
sandbox code); anything else becomes an ``ExtensionError`` naming the function.
"""

from __future__ import annotations

import base64
import builtins
import copy
import importlib
import importlib.metadata
import inspect
import keyword
import logging
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pluggy

from envloop import hookspecs
from envloop.errors import EnvloopError, ExtensionError

__all__ = [
    "BUILTIN_EXTENSIONS",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "CallContext",
    "Effect",
    "Extension",
    "ExtensionSet",
    "HostFunction",
    "function_docs",
    "hookimpl",
    "load_extensions",
]

logger = logging.getLogger("envloop.extensions")

Effect = Literal["read", "write", "irreversible"]
EFFECTS: tuple[str, ...] = ("read", "write", "irreversible")
hookimpl = pluggy.HookimplMarker("envloop")

ENTRY_POINT_GROUP = "envloop.extensions"
ENV_VAR = "ENVLOOP_EXTENSIONS"
# Imported by name, never by a static import: envloop core depends on no specific extension.
BUILTIN_EXTENSIONS: dict[str, str] = {"files": "envloop.extensions.files", "llm": "envloop.extensions.llm",
                                      "instructions": "envloop.extensions.instructions"}
# Names sandbox code already has; a host function must not silently replace one.
RESERVED_NAMES = frozenset({"answer", "save_artifact", "load_artifact"}) | frozenset(dir(builtins))

MAX_NUDGES = 8
MAX_NUDGE_CHARS = 300
MAX_PROMPT_CHARS = 8000
MAX_DESCRIPTION_CHARS = 1000
_MAX_NODES = 1_000_000
_MAX_DEPTH = 100
# The exceptions a host function may raise at sandbox code, as themselves.
_PASS_THROUGH = (TypeError, ValueError, LookupError, PermissionError, FileNotFoundError, RuntimeError,
                 TimeoutError, EnvloopError)


@dataclass(frozen=True)
class HostFunction:
    """One function sandbox code can call; validated when made, so a bad one fails at load.

    ``describe(*args, **kwargs) -> str``, if given, phrases the approval question
    of an irreversible call (default: the call written out with its arguments).
    """

    name: str
    fn: Callable[..., Any]
    effect: Effect
    doc: str
    signature: str
    describe: Callable[..., str] | None = None

    def __post_init__(self) -> None:
        name = self.name
        if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise ValueError(f"host function name {name!r} must be a public Python identifier")
        if name in RESERVED_NAMES:
            raise ValueError(f"host function name {name!r} is taken by a Python builtin or envloop itself")
        if not callable(self.fn) or (self.describe is not None and not callable(self.describe)):
            raise TypeError(f"host function {name!r}: fn and describe must be callable")
        if self.effect not in EFFECTS:
            raise ValueError(f"host function {name!r}: effect must be one of {', '.join(EFFECTS)}")
        for what, text in (("doc", self.doc), ("signature", self.signature)):
            if type(text) is not str or not text.strip() or "\n" in text or len(text) > 300:
                raise ValueError(f"host function {name!r}: {what} must be one non-empty line")
        if not self.signature.startswith(f"{name}("):
            raise ValueError(f"host function {name!r}: signature must start with {name}(")


@dataclass
class CallContext:
    """What a host function may touch, built by the environment for each call."""

    conversation_id: int
    workspace: Path
    save_artifact: Callable[[str, bytes, str | None], int]
    ask_model: Callable[[str], str] | None
    approve: Callable[[str, str], bool]
    #: The workspace quota in bytes (ENVLOOP_MAX_WORKSPACE_BYTES); None: no quota.
    workspace_bytes: int | None = None
    #: Queue a new version of the conversation's instructions (None clears them) to be stored with the
    #: running block; returns its version number. Only the built-in ``instructions`` extension uses it.
    set_instructions: Callable[[str | None], int] | None = None


@dataclass
class Extension:
    """One loaded extension, as ``envloop extensions`` shows it."""

    name: str
    source: str
    module: str
    hooks: list[str]
    functions: list[HostFunction] = field(default_factory=list)
    prompt: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "module": self.module, "hooks": self.hooks,
            "functions": [{"name": f.name, "signature": f.signature, "effect": f.effect, "doc": f.doc}
                          for f in self.functions],
        }


def function_docs(functions: Collection[HostFunction]) -> str:
    """One line per function for the system prompt; extensions may use it in their fragment."""
    notes = {"read": "", "write": "", "irreversible": " (asks the person first; raises PermissionError if they say no)"}
    return "\n".join(f"- {f.signature}: {f.doc}{notes[f.effect]}" for f in functions)


class ExtensionSet:
    """The loaded extensions: their functions, prompt, nudges, and the one door to call them."""

    def __init__(self, pm: pluggy.PluginManager, sources: dict[str, str] | None = None) -> None:
        self.pm = pm
        self.functions: dict[str, HostFunction] = {}
        self.extensions: list[Extension] = []
        self._owners: dict[str, str] = {}
        self._signatures: dict[str, inspect.Signature | None] = {}
        self._nudge_impls: list[tuple[str, pluggy.HookImpl]] = []
        for name, plugin in pm.list_name_plugin():  # registration order: built-ins first
            if plugin is None:  # blocked
                continue
            impls = _impls(pm, plugin)
            module = getattr(plugin, "__name__", type(plugin).__name__)
            ext = Extension(name, (sources or {}).get(name, "registered"), module, list(impls))
            self._collect(ext, impls)
            self.extensions.append(ext)
            if "envloop_nudges" in impls:
                self._nudge_impls.append((name, impls["envloop_nudges"]))
        self._prompt = "\n\n".join(_fragment(ext) for ext in self.extensions if ext.prompt or ext.functions)

    def _collect(self, ext: Extension, impls: dict[str, pluggy.HookImpl]) -> None:
        """Take the extension's functions and prompt fragment, checking both."""
        functions = _run_hook(impls.get("envloop_functions"), {}) or []
        if not isinstance(functions, (list, tuple)) or not all(isinstance(f, HostFunction) for f in functions):
            raise ExtensionError(f"extension {ext.name!r}: envloop_functions must return a list of HostFunction")
        for hf in functions:
            if hf.name in self.functions:
                raise ExtensionError(f"extensions {self._owners[hf.name]!r} and {ext.name!r} "
                                     f"both define a function {hf.name!r}")
            self.functions[hf.name] = hf
            self._owners[hf.name] = ext.name
            ext.functions.append(hf)
            try:
                self._signatures[hf.name] = inspect.signature(hf.fn)
            except (TypeError, ValueError):  # some builtins have none; the call itself checks then
                self._signatures[hf.name] = None
        prompt = _run_hook(impls.get("envloop_prompt"), {})
        if prompt is not None and (type(prompt) is not str or len(prompt) > MAX_PROMPT_CHARS):
            raise ExtensionError(f"extension {ext.name!r}: envloop_prompt must return a str of at most "
                                 f"{MAX_PROMPT_CHARS} characters, or None")
        ext.prompt = prompt.strip() if prompt else None

    # -- the engine's side ----------------------------------------------------

    def prompt(self) -> str:
        """Every extension's documentation for the system prompt; the same text every call."""
        return self._prompt

    def nudges(self, state: dict[str, Any]) -> list[str]:
        """Hints from every extension for the next iteration, capped in number and length.

        A nudge hook that fails is logged and skipped: nudges are advice, and a
        turn must not fail because an extension's advice broke.
        """
        found: list[str] = []
        for name, impl in self._nudge_impls:
            try:
                result = _run_hook(impl, {"state": copy.deepcopy(state)})
                if result is not None and (not isinstance(result, list) or any(type(n) is not str for n in result)):
                    raise ExtensionError("envloop_nudges must return a list of str or None")
            except ExtensionError as exc:
                logger.warning("extension %r: nudges skipped: %s", name, exc)
                continue
            for nudge in result or []:
                text = " ".join(nudge.split())
                if text:
                    found.append(text if len(text) <= MAX_NUDGE_CHARS else text[: MAX_NUDGE_CHARS - 3] + "...")
        return found[:MAX_NUDGES]

    def call(self, name: str, ctx: CallContext, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run host function ``name`` for sandbox code; arguments and result in wire form.

        Arguments are checked against the function's signature before the
        person is asked anything, so a malformed call never reaches approval.
        """
        hf = self.functions.get(name) if type(name) is str else None
        if hf is None:
            raise NameError(f"no extension function {str(name)[:80]!r}")
        if type(args) is not list or type(kwargs) is not dict or any(type(k) is not str for k in kwargs):
            raise TypeError(f"{name}: malformed call")
        args = [_from_wire(a) for a in args]
        kwargs = {k: _from_wire(v) for k, v in kwargs.items()}
        signature = self._signatures.get(name)
        if signature is not None:
            try:
                signature.bind(ctx, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{hf.signature}: {exc}") from None
        if hf.effect == "irreversible":
            described = _guarded(name, hf.describe, *args, **kwargs) if hf.describe else None
            description = str(described) if described is not None else _call_text(name, args, kwargs)
            if ctx.approve(name, description[:MAX_DESCRIPTION_CHARS]) is not True:
                raise PermissionError(f"{name} needs your approval and was denied")
        result = _guarded(name, hf.fn, ctx, *args, **kwargs)
        _check_plain(name, result)
        return _to_wire(result)

    def describe(self) -> list[dict[str, Any]]:
        """Every loaded extension with its functions, for ``envloop extensions``."""
        return [ext.to_json() for ext in self.extensions]


def load_extensions(*, disabled: Collection[str] = ()) -> ExtensionSet:
    """Load the built-ins, the entry-point plugins and ``ENVLOOP_EXTENSIONS``, minus ``disabled`` names."""
    pm = pluggy.PluginManager("envloop")
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    sources: dict[str, str] = {}
    for name, module in BUILTIN_EXTENSIONS.items():
        if not pm.is_blocked(name):
            _register(pm, sources, name, _import(module, name), "built-in")
    for ep, source in _entry_points():
        if pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise ExtensionError(f"could not load extension {ep.name!r} ({ep.value}): {_one_line(exc)}") from exc
        _register(pm, sources, ep.name, plugin, source)
    for module in (m.strip() for m in os.environ.get(ENV_VAR, "").split(",")):
        if module and not pm.is_blocked(module):
            _register(pm, sources, module, _import(module, module), ENV_VAR)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ExtensionError(f"extension {pm.get_name(exc.plugin)!r}: {_one_line(exc)}") from exc
    return ExtensionSet(pm, sources)


def _entry_points() -> Iterator[tuple[importlib.metadata.EntryPoint, str]]:
    seen: set[tuple[str, str]] = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) in seen:  # one distribution found twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        dist = getattr(ep, "dist", None)
        yield ep, f"entry point of {dist.name} {dist.version}" if dist is not None else "entry point"


def _import(module: str, name: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, SyntaxError, or whatever its top level raised
        raise ExtensionError(f"could not load extension {name!r} ({module}): {_one_line(exc)}") from exc


def _register(pm: pluggy.PluginManager, sources: dict[str, str], name: str, plugin: Any, source: str) -> None:
    """Register one plugin; the same module found twice is kept once, two under one name is an error."""
    if pm.is_registered(plugin):
        return
    if pm.get_plugin(name) is not None:
        raise ExtensionError(f"two extensions are named {name!r}")
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise ExtensionError(f"extension {name!r} is invalid: {_one_line(exc)}") from exc
    sources[name] = source


def _impls(pm: pluggy.PluginManager, plugin: object) -> dict[str, pluggy.HookImpl]:
    """The plugin's implementation of each hook it implements (a module has one per hook at most)."""
    found: dict[str, pluggy.HookImpl] = {}
    for hook in ("envloop_functions", "envloop_prompt", "envloop_nudges"):
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.plugin is plugin:
                found[hook] = impl
    return found


def _run_hook(impl: pluggy.HookImpl | None, kwargs: dict[str, Any]) -> Any:
    """Call one plugin's hook implementation, naming the plugin if it fails."""
    if impl is None:
        return None
    try:
        return impl.function(*(kwargs[arg] for arg in impl.argnames))
    except Exception as exc:
        raise ExtensionError(f"extension {impl.plugin_name!r} failed in {impl.function.__name__}: "
                             f"{_one_line(exc)}") from exc


def _guarded(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run an extension's code: the exceptions sandbox code can handle pass, others become ExtensionError."""
    try:
        return fn(*args, **kwargs)
    except _PASS_THROUGH:
        raise
    except Exception as exc:
        logger.warning("host function %s failed", name, exc_info=True)
        raise ExtensionError(f"{name} failed: {_one_line(exc)}") from exc


def _fragment(ext: Extension) -> str:
    """The extension's own prompt fragment, or a generated list of its functions."""
    return ext.prompt or f"Functions from the {ext.name} extension:\n{function_docs(ext.functions)}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _from_wire(value: Any) -> Any:
    """Bytes cross the pipe as {"__bytes__": base64} (top-level arguments only, like the worker)."""
    if type(value) is dict and len(value) == 1 and type(value.get("__bytes__")) is str:
        try:
            return base64.b64decode(value["__bytes__"], validate=True)
        except ValueError:
            raise ValueError("a bytes argument arrived malformed") from None
    return value


def _to_wire(value: Any) -> Any:
    if type(value) is bytes:
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    return value


def _check_plain(name: str, value: Any) -> None:
    """Plain JSON data (bytes only at the top): nothing else may go back to the worker."""
    if type(value) is bytes:
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > _MAX_NODES or depth > _MAX_DEPTH:
            raise ExtensionError(f"{name} returned a value too large or too deeply nested")
        kind = type(item)
        if kind is list:
            stack.extend((x, depth + 1) for x in item)
        elif kind is dict:
            if any(type(k) is not str for k in item):
                raise ExtensionError(f"{name} returned a dict with non-str keys")
            stack.extend((x, depth + 1) for x in item.values())
        elif kind not in (str, int, float, bool, type(None)):
            raise ExtensionError(f"{name} returned a {kind.__name__}, which is not plain data")


def _call_text(name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """The call written out, arguments capped: the default approval question."""
    def show(value: Any) -> str:
        if type(value) is bytes:
            return f"<{len(value)} bytes>"
        text = repr(value)  # host-decoded JSON data, never a sandbox object
        return text if len(text) <= 200 else text[:197] + "..."
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
