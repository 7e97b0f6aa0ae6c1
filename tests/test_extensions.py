"""Extensions without the engine: hooks, loading, the call door, the built-in files and llm functions."""

from __future__ import annotations

import base64
import inspect
import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import envloop.extensions_api as api
from envloop import hookspecs
from envloop.errors import ExtensionError
from envloop.extensions import files
from envloop.extensions_api import CallContext, ExtensionSet, load_extensions


class Recorder:
    """The environment's side of a CallContext: records artifacts and approval questions."""

    def __init__(self, answer: bool = True, reply: str | None = "42") -> None:
        self.saved: list[tuple[str, bytes, str | None]] = []
        self.asked: list[tuple[str, str]] = []
        self.prompts: list[str] = []
        self.answer = answer
        self.reply = reply

    def save_artifact(self, name: str, data: bytes, media_type: str | None) -> int:
        self.saved.append((name, data, media_type))
        return sum(1 for n, _, _ in self.saved if n == name)

    def approve(self, name: str, description: str) -> bool:
        self.asked.append((name, description))
        return self.answer

    def ask_model(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.reply  # type: ignore[return-value]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def ctx(workspace: Path, rec: Recorder) -> CallContext:
    return CallContext(conversation_id=1, workspace=workspace, save_artifact=rec.save_artifact,
                       ask_model=rec.ask_model, approve=rec.approve)


@pytest.fixture
def exts(monkeypatch: pytest.MonkeyPatch) -> ExtensionSet:
    monkeypatch.delenv(api.ENV_VAR, raising=False)
    return load_extensions()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Write a plugin module into tmp_path and name it in ENVLOOP_EXTENSIONS (appending)."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv(api.ENV_VAR, raising=False)

    def write(module: str, source: str) -> str:
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
        current = os.environ.get(api.ENV_VAR, "")
        monkeypatch.setenv(api.ENV_VAR, f"{current},{module}" if current else module)
        monkeypatch.delitem(sys.modules, module, raising=False)
        return str(folder)

    return write


IRREVERSIBLE = """
from envloop.extensions_api import HostFunction, hookimpl

SENT = []

def send_note(ctx, to, text=""):
    if type(to) is not str:
        raise TypeError("send_note: to must be a str")
    SENT.append((to, text))
    return len(SENT)

@hookimpl
def envloop_functions():
    return [HostFunction("send_note", send_note, "irreversible", "Send a note to someone.",
                         "send_note(to: str, text: str = '') -> int")]

@hookimpl
def envloop_nudges(state):
    if state.get("iteration", 0) >= state.get("max_iterations", 99) - 1:
        return ["Last iteration: call answer() now.\\nReally."]
    return None
"""


def call(exts: ExtensionSet, ctx: CallContext, name: str, *args: Any, **kwargs: Any) -> Any:
    return exts.call(name, ctx, list(args), kwargs)


# -- hookspecs are documented (datasette-style) -------------------------------


def _spec_signature(fn: Callable[..., Any]) -> str:
    """The hook's signature as written in its source (annotations are strings here)."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{fn.__name__}({params}) -> {sig.return_annotation}"


def _hookspecs() -> list[Callable[..., Any]]:
    return [fn for name, fn in vars(hookspecs).items() if name.startswith("envloop_") and callable(fn)]


def test_every_hookspec_is_documented_with_its_exact_signature() -> None:
    specs = _hookspecs()
    assert {fn.__name__ for fn in specs} == {"envloop_functions", "envloop_prompt", "envloop_nudges"}
    docs = (hookspecs.__doc__ or "") + (api.__doc__ or "")
    for fn in specs:
        assert hasattr(fn, "envloop_spec"), f"{fn.__name__} is not marked as a hookspec"
        signature = _spec_signature(fn)
        assert signature in docs, f"{signature} is missing from the module docs"
        assert (fn.__doc__ or "").startswith(signature), f"{fn.__name__}'s docstring must start with {signature}"


# -- loading -------------------------------------------------------------------


def test_builtins_load_through_the_hooks(exts: ExtensionSet) -> None:
    assert [e.name for e in exts.extensions][:2] == ["files", "llm"]
    assert {"read_file", "read_bytes", "write_file", "list_files", "llm_query"} <= set(exts.functions)
    effects = {n: f.effect for n, f in exts.functions.items()}
    assert effects["read_file"] == "read" and effects["write_file"] == "write" and effects["llm_query"] == "read"
    prompt = exts.prompt()
    for fn in exts.functions.values():
        assert fn.signature in prompt
    assert prompt == load_extensions().prompt(), "the prompt must be the same every time (cacheable)"


def test_disabled_extensions_are_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(api.ENV_VAR, raising=False)
    exts = load_extensions(disabled={"files"})
    assert "read_file" not in exts.functions and "llm_query" in exts.functions
    assert "read_file(" not in exts.prompt()


def test_a_plugin_that_cannot_be_imported_is_named(plugin: Callable[[str, str], str]) -> None:
    plugin("broken_ext", "raise RuntimeError('boom')\n")
    with pytest.raises(ExtensionError, match="broken_ext") as info:
        load_extensions()
    assert "\n" not in str(info.value) and "boom" in str(info.value)


def test_a_missing_plugin_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.ENV_VAR, "no_such_envloop_ext_module")
    with pytest.raises(ExtensionError, match="no_such_envloop_ext_module"):
        load_extensions()


def test_duplicate_function_names_are_refused(plugin: Callable[[str, str], str]) -> None:
    plugin("dup_ext", """
        from envloop.extensions_api import HostFunction, hookimpl

        @hookimpl
        def envloop_functions():
            return [HostFunction("read_file", lambda ctx, path: "", "read", "Shadow.", "read_file(path: str) -> str")]
    """)
    with pytest.raises(ExtensionError, match=r"'files' and 'dup_ext' both define a function 'read_file'"):
        load_extensions()


@pytest.mark.parametrize("body, message", [
    ('HostFunction("print", f, "read", "d.", "print() -> None")', "taken"),
    ('HostFunction("_x", f, "read", "d.", "_x() -> None")', "identifier"),
    ('HostFunction("x", f, "delete", "d.", "x() -> None")', "effect"),
    ('HostFunction("x", f, "read", "two\\nlines", "x() -> None")', "one non-empty line"),
    ('"not a HostFunction"', "list of HostFunction"),
])
def test_bad_host_functions_fail_at_load(plugin: Callable[[str, str], str], body: str, message: str) -> None:
    plugin("bad_fn_ext", f"""
        from envloop.extensions_api import HostFunction, hookimpl
        f = lambda ctx: None

        @hookimpl
        def envloop_functions():
            return [{body}]
    """)
    with pytest.raises(ExtensionError, match=message) as info:
        load_extensions()
    assert "bad_fn_ext" in str(info.value)


def test_a_hook_with_wrong_arguments_or_unknown_name_is_refused(plugin: Callable[[str, str], str]) -> None:
    plugin("typo_ext", """
        from envloop.extensions_api import hookimpl

        @hookimpl
        def envloop_nudge(state):
            return []
    """)
    with pytest.raises(ExtensionError, match="typo_ext"):
        load_extensions()


def test_entry_point_plugins_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    info = site / "ep_ext_pkg-1.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-ext-pkg\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[envloop.extensions]\nshout = ep_ext_mod\n")
    (site / "ep_ext_mod.py").write_text(textwrap.dedent("""
        from envloop.extensions_api import HostFunction, hookimpl

        @hookimpl
        def envloop_functions():
            return [HostFunction("shout", lambda ctx, text: text.upper(), "read", "Shout.", "shout(text: str) -> str")]
    """))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(api.ENV_VAR, raising=False)
    exts = load_extensions()
    (shout,) = [e for e in exts.describe() if e["name"] == "shout"]
    assert shout["source"] == "entry point of ep-ext-pkg 1.2"
    assert exts.call("shout", None, ["hi"], {}) == "HI"  # type: ignore[arg-type]
    assert "shout" not in load_extensions(disabled=["shout"]).functions


# -- the call door ----------------------------------------------------------------


def test_unknown_function_and_bad_arguments(exts: ExtensionSet, ctx: CallContext) -> None:
    with pytest.raises(NameError, match="nope"):
        call(exts, ctx, "nope")
    with pytest.raises(TypeError, match=r"read_file\(path: str\) -> str: .*missing"):
        call(exts, ctx, "read_file")
    with pytest.raises(TypeError, match="too many"):
        call(exts, ctx, "read_file", "a", "b")


def test_irreversible_call_approved(plugin: Callable[[str, str], str], ctx: CallContext, rec: Recorder) -> None:
    plugin("note_ext", IRREVERSIBLE)
    exts = load_extensions()
    assert call(exts, ctx, "send_note", "bob", text="hello") == 1
    assert rec.asked == [("send_note", "send_note('bob', text='hello')")]
    assert sys.modules["note_ext"].SENT == [("bob", "hello")]


def test_irreversible_call_denied(plugin: Callable[[str, str], str], ctx: CallContext, rec: Recorder) -> None:
    plugin("note_ext", IRREVERSIBLE)
    exts = load_extensions()
    rec.answer = False
    with pytest.raises(PermissionError, match=r"^send_note needs your approval and was denied$"):
        call(exts, ctx, "send_note", "bob")
    assert sys.modules["note_ext"].SENT == []
    with pytest.raises(TypeError):  # a malformed call is refused before anyone is asked
        call(exts, ctx, "send_note")
    assert len(rec.asked) == 1


def test_describe_phrases_the_approval_question(plugin: Callable[[str, str], str], ctx: CallContext,
                                                rec: Recorder) -> None:
    plugin("pay_ext", """
        from envloop.extensions_api import HostFunction, hookimpl

        def describe(amount):
            if type(amount) is not int or amount <= 0:
                raise ValueError("pay: amount must be a positive int")
            return f"Pay {amount} EUR from your account"

        @hookimpl
        def envloop_functions():
            return [HostFunction("pay", lambda ctx, amount: "paid", "irreversible", "Pay.", "pay(amount: int) -> str",
                                 describe=describe)]
    """)
    exts = load_extensions()
    assert call(exts, ctx, "pay", 5) == "paid"
    assert rec.asked == [("pay", "Pay 5 EUR from your account")]
    with pytest.raises(ValueError, match="positive int"):
        call(exts, ctx, "pay", True)
    assert len(rec.asked) == 1


def test_plugin_nudges_and_generated_prompt(plugin: Callable[[str, str], str]) -> None:
    plugin("note_ext", IRREVERSIBLE)
    plugin("bad_nudge_ext", """
        from envloop.extensions_api import hookimpl

        @hookimpl
        def envloop_nudges(state):
            raise KeyError("broken")
    """)
    exts = load_extensions()
    assert exts.nudges({"iteration": 1, "max_iterations": 8}) == []
    assert exts.nudges({"iteration": 7, "max_iterations": 8}) == ["Last iteration: call answer() now. Really."]
    assert "Functions from the note_ext extension:\n- send_note(to: str, text: str = '') -> int" in exts.prompt()
    assert "asks the person first" in exts.prompt()


def test_non_plain_results_and_unexpected_errors_become_extension_errors(
        plugin: Callable[[str, str], str], ctx: CallContext) -> None:
    plugin("odd_ext", """
        from envloop.extensions_api import HostFunction, hookimpl

        def give(ctx, what):
            return {"tuple": (1, 2), "set": [{1}], "obj": [object()], "ok": {"a": [1, 2.5, None, True]}}[what]

        def crash(ctx):
            raise OSError("disk on fire")

        @hookimpl
        def envloop_functions():
            return [HostFunction("give", give, "read", "d.", "give(what: str)"),
                    HostFunction("crash", crash, "read", "d.", "crash()")]
    """)
    exts = load_extensions()
    assert call(exts, ctx, "give", "ok") == {"a": [1, 2.5, None, True]}
    for what in ("tuple", "set", "obj"):
        with pytest.raises(ExtensionError, match="not plain data"):
            call(exts, ctx, "give", what)
    with pytest.raises(ExtensionError, match="crash failed: OSError: disk on fire"):
        call(exts, ctx, "crash")


# -- files: reading, writing, listing ---------------------------------------------


def test_write_read_and_list(exts: ExtensionSet, ctx: CallContext, rec: Recorder, workspace: Path) -> None:
    assert call(exts, ctx, "write_file", "notes.txt", "héllo") == 1
    assert call(exts, ctx, "write_file", "notes.txt", "again") == 2
    assert call(exts, ctx, "write_file", "data/table.csv", "a,b\n") == 1
    assert (workspace / "notes.txt").read_text() == "again"
    assert rec.saved == [("notes.txt", "héllo".encode(), "text/plain"), ("notes.txt", b"again", "text/plain"),
                         ("data/table.csv", b"a,b\n", "text/csv")]
    assert call(exts, ctx, "read_file", "notes.txt") == "again"
    assert call(exts, ctx, "read_file", "./data/table.csv") == "a,b\n"
    assert call(exts, ctx, "read_file", str(workspace / "notes.txt")) == "again"
    assert call(exts, ctx, "list_files") == ["data/", "notes.txt"]
    assert call(exts, ctx, "list_files", "data") == ["data/table.csv"]
    assert [p for p in os.listdir(workspace) if p.startswith(".")] == [], "no temporary files left behind"


def test_bytes_cross_in_wire_form(exts: ExtensionSet, ctx: CallContext, rec: Recorder) -> None:
    blob = bytes(range(256))
    wire = {"__bytes__": base64.b64encode(blob).decode()}
    assert call(exts, ctx, "write_file", "blob.bin", wire) == 1
    assert rec.saved[-1] == ("blob.bin", blob, "application/octet-stream")
    assert call(exts, ctx, "read_bytes", "blob.bin") == wire
    with pytest.raises(ValueError, match="not UTF-8 text; use read_bytes"):
        call(exts, ctx, "read_file", "blob.bin")


@pytest.mark.parametrize("args, error, message", [
    ((123,), TypeError, "path must be a str, not int"),
    (("",), ValueError, "path must be"),
    (("a\x00b",), ValueError, "without NUL"),
    (("missing.txt",), FileNotFoundError, "no file 'missing.txt'"),
    (("nowhere/missing.txt",), FileNotFoundError, "no such file or folder"),
    ((".",), ValueError, "workspace folder"),
])
def test_read_refusals(exts: ExtensionSet, ctx: CallContext, args: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call(exts, ctx, "read_file", *args)


def test_arguments_are_checked_by_exact_type(exts: ExtensionSet, ctx: CallContext) -> None:
    class Sneaky(str):
        pass

    with pytest.raises(TypeError, match="not Sneaky"):
        files.read_file(ctx, Sneaky("x"))
    for content in (5, ["a"], bytearray(b"x"), Sneaky("x")):
        with pytest.raises(TypeError, match="content must be str or bytes"):
            files.write_file(ctx, "x.txt", content)


@pytest.mark.parametrize("path", ["../outside.txt", "a/../../outside.txt", "a/../b.txt", "/etc/passwd", "/tmp/x"])
def test_traversal_and_absolute_paths_are_refused(exts: ExtensionSet, ctx: CallContext, path: str) -> None:
    for name, args in (("read_file", (path,)), ("write_file", (path, "x")), ("list_files", (path,))):
        with pytest.raises(PermissionError, match="'..'|outside the workspace"):
            call(exts, ctx, name, *args)


def test_a_symlink_to_a_file_outside_is_refused(exts: ExtensionSet, ctx: CallContext, workspace: Path,
                                                tmp_path: Path, rec: Recorder) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (workspace / "link.txt").symlink_to(secret)
    with pytest.raises(PermissionError, match="symbolic link 'link.txt'"):
        call(exts, ctx, "read_file", "link.txt")
    with pytest.raises(PermissionError, match="symbolic link"):
        call(exts, ctx, "write_file", "link.txt", "overwritten")
    assert secret.read_text() == "top secret" and rec.saved == []


def test_a_symlinked_folder_is_refused(exts: ExtensionSet, ctx: CallContext, workspace: Path,
                                       tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (workspace / "linked").symlink_to(outside, target_is_directory=True)
    for name, args in (("read_file", ("linked/secret.txt",)), ("list_files", ("linked",)),
                       ("write_file", ("linked/new.txt", "x")), ("write_file", ("linked/sub/new.txt", "x"))):
        with pytest.raises(PermissionError, match="symbolic link 'linked'"):
            call(exts, ctx, name, *args)
    assert sorted(os.listdir(outside)) == ["secret.txt"]


def test_even_a_symlink_pointing_inside_is_refused(exts: ExtensionSet, ctx: CallContext, workspace: Path) -> None:
    (workspace / "real.txt").write_text("x")
    (workspace / "alias.txt").symlink_to(workspace / "real.txt")
    with pytest.raises(PermissionError, match="symbolic link"):
        call(exts, ctx, "read_file", "alias.txt")


def test_opening_does_not_follow_a_link_swapped_in_after_the_check(
        ctx: CallContext, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race: the path checks pass, then a folder becomes a link before the open."""
    (workspace / "d").mkdir()
    (workspace / "d" / "f.txt").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("outside")
    monkeypatch.setattr(files, "_check_no_links", lambda *args: None)
    (workspace / "d" / "f.txt").unlink()
    (workspace / "d").rmdir()
    (workspace / "d").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PermissionError, match="symbolic link"):
        files.read_file(ctx, "d/f.txt")


def test_hard_links_and_special_files_are_refused(ctx: CallContext, workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    os.link(outside, workspace / "hard.txt")
    with pytest.raises(PermissionError, match="hard links"):
        files.read_file(ctx, "hard.txt")
    files.write_file(ctx, "hard.txt", "replaced")  # replaces the link, never writes through it
    assert outside.read_text() == "outside" and (workspace / "hard.txt").read_text() == "replaced"
    os.mkfifo(workspace / "pipe")
    with pytest.raises(ValueError, match="not a regular file"):
        files.read_file(ctx, "pipe")
    (workspace / "folder").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        files.write_file(ctx, "folder", "x")


def test_size_caps(ctx: CallContext, workspace: Path, monkeypatch: pytest.MonkeyPatch, rec: Recorder) -> None:
    monkeypatch.setattr(files, "MAX_WRITE_BYTES", 10)
    monkeypatch.setattr(files, "MAX_READ_BYTES", 5)
    with pytest.raises(ValueError, match="larger than"):
        files.write_file(ctx, "big.txt", "x" * 11)
    assert not (workspace / "big.txt").exists() and rec.saved == []
    files.write_file(ctx, "six.txt", "x" * 6)
    with pytest.raises(ValueError, match="larger than"):
        files.read_file(ctx, "six.txt")


# -- llm_query ------------------------------------------------------------------------


def test_llm_query(exts: ExtensionSet, ctx: CallContext, rec: Recorder) -> None:
    assert call(exts, ctx, "llm_query", "What is six times seven?") == "42"
    assert rec.prompts == ["What is six times seven?"]
    with pytest.raises(TypeError, match="prompt must be a str"):
        call(exts, ctx, "llm_query", 5)
    with pytest.raises(ValueError, match="longer than"):
        call(exts, ctx, "llm_query", "x" * 100_001)
    ctx.ask_model = None
    with pytest.raises(RuntimeError, match="^no model is configured for llm_query$"):
        call(exts, ctx, "llm_query", "hi")


# -- through the real sandbox and the real CLI ---------------------------------------------


def test_host_functions_from_sandbox_code(exts: ExtensionSet, ctx: CallContext, workspace: Path) -> None:
    """The wire form works end to end: bytes in and out, errors re-raised in sandbox code."""
    from envloop.sandbox import Sandbox

    def on_call(fn: str, args: list, kwargs: dict) -> Any:
        return exts.call(fn, ctx, args, kwargs)

    with Sandbox(workspace, timeout=10.0, on_call=on_call, host_functions=list(exts.functions)) as sb:
        result = sb.run(textwrap.dedent("""
            v = write_file("out/b.bin", b"\\x00\\xff")
            data = read_bytes("out/b.bin")
            try:
                read_file("../x")
                refused = None
            except PermissionError as exc:
                refused = str(exc)
            (v, data, list_files("out"), refused)
        """))
    assert result.ok, result.error
    refusal = "read_file: '../x' uses '..'; paths must stay inside the workspace"
    assert result.result == f"(1, b'\\x00\\xff', ['out/b.bin'], {refusal!r})"


def test_cli_lists_extensions(run_cli: Callable[..., Any], plugin: Callable[[str, str], str]) -> None:
    folder = plugin("note_ext", IRREVERSIBLE)
    env = {api.ENV_VAR: "note_ext", "PYTHONPATH": folder}
    done = run_cli("extensions", env=env)
    assert done.returncode == 0, done.stderr
    assert "files  (built-in)" in done.stdout
    assert "note_ext  (ENVLOOP_EXTENSIONS)" in done.stdout
    (line,) = [line for line in done.stdout.splitlines() if "send_note(" in line]
    assert line.split() == ["send_note(to:", "str,", "text:", "str", "=", "'')", "->", "int", "irreversible",
                            "Send", "a", "note", "to", "someone."]
    done = run_cli("extensions", "--json", env=env)
    assert done.returncode == 0, done.stderr
    listed = {e["name"]: e for e in json.loads(done.stdout)}
    assert listed["files"]["functions"][0] == {"name": "read_file", "signature": "read_file(path: str) -> str",
                                               "effect": "read", "doc": "Read a UTF-8 text file from the workspace."}
    assert listed["note_ext"]["hooks"] == ["envloop_functions", "envloop_nudges"]


def test_cli_reports_a_broken_extension_on_one_line(run_cli: Callable[..., Any]) -> None:
    done = run_cli("extensions", env={api.ENV_VAR: "no_such_envloop_ext_module"})
    assert done.returncode == 1
    assert done.stderr.startswith("Error: could not load extension 'no_such_envloop_ext_module'")
    assert done.stderr.count("\n") == 1
