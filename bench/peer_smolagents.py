"""Peer suite: the snippets of smolagents' executor tests, run in envloop's sandbox and in CPython.

smolagents' ``tests/test_local_python_executor.py`` is a few hundred small programs
that a Python-executing agent should handle (and a few dozen escape attempts).
This script reads that file *at run time* from a local clone (nothing of it is
kept in this repository), pulls out every code snippet it passes to the executor,
runs each one in a fresh envloop sandbox, and sorts the outcomes:

* **same**: what CPython gives: the same printed output, the same value of a
  trailing expression, the same exception type (or both fine);
* **refused**: a deliberate security refusal of the sandbox (an import outside
  the allowlist, a dunder or frame attribute, ``eval``/``open``/``globals``
  ...); CPython is not even asked, so none of those snippets run unsandboxed;
* **wrong**: anything else: a harmless snippet refused for no reason, or a
  different answer.  Each is listed with both outcomes.

Usage::

    python bench/peer_smolagents.py [PATH-TO-SMOLAGENTS-CLONE-OR-GIT-DIR] [--verbose]

The clone defaults to ``$SMOLAGENTS_SRC``.  A bare git directory works too (the
file is read with ``git show HEAD:tests/test_local_python_executor.py``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

TEST_FILE = "tests/test_local_python_executor.py"
TIMEOUT = 3.0

# Messages of envloop's deliberate refusals (policy, import allowlist, guards).
_REFUSAL_MARKERS = (
    "is not allowed in the sandbox", "is not accessible in the sandbox", "invalid variable name",
    "invalid attribute name", "is a restricted name", "calls are not allowed", "cannot create classes",
    "relative imports are not allowed", "has no attribute", "is read-only in the sandbox",
    "cannot set a private attribute", "only available for instances of classes defined",
    "is not supported in the sandbox", "not allowed in the sandbox", "except*",
)
# Builtins the sandbox leaves out on purpose: using one is a NameError there.
_ABSENT_BUILTINS = ("open", "eval", "exec", "compile", "globals", "locals", "__import__", "input",
                    "breakpoint", "help", "exit", "quit", "memoryview", "aiter", "anext")


def read_tests(source: str | None) -> str:
    """The test file's text from a work tree or a git directory (never copied into this repo)."""
    where = Path(source or os.environ.get("SMOLAGENTS_SRC", "")).expanduser()
    if (where / TEST_FILE).is_file():
        return (where / TEST_FILE).read_text(encoding="utf-8")
    if where.is_dir():
        out = subprocess.run(["git", "--git-dir", str(where), "show", f"HEAD:{TEST_FILE}"],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0:
            return out.stdout
    raise SystemExit(f"no smolagents clone at {str(where)!r}: pass its path or set SMOLAGENTS_SRC")


class _Snippets(ast.NodeVisitor):
    """Code strings the tests hand to the executor: ``code = ...``, ``dedent(...)``,
    parametrize lists whose argument names mention code, and direct executor calls."""

    _CALLS = {"evaluate_python_code", "executor", "dedent", "LocalPythonExecutor"}

    def __init__(self) -> None:
        self.found: list[str] = []

    def _take(self, node: ast.AST | None) -> None:
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dedent" and node.args:
            node = node.args[0]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.found.append(node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and "code" in t.id for t in node.targets):
            self._take(node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in self._CALLS and node.args:
            self._take(node.args[0])
        if name == "parametrize" and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant):
            names = [n.strip() for n in str(node.args[0].value).split(",")]
            index = next((i for i, n in enumerate(names) if "code" in n), None)
            if index is not None and isinstance(node.args[1], (ast.List, ast.Tuple)):
                for case in node.args[1].elts:
                    if isinstance(case, ast.Call) and getattr(case.func, "attr", "") == "param":
                        case = case.args[0] if len(names) == 1 else ast.Tuple(case.args)
                    item = case.elts[index] if isinstance(case, ast.Tuple) and len(names) > 1 else case
                    self._take(item)
        self.generic_visit(node)


def snippets(test_source: str) -> list[str]:
    """Distinct, parseable snippets, dedented, in file order."""
    finder = _Snippets()
    finder.visit(ast.parse(test_source))
    seen: dict[str, None] = {}
    for raw in finder.found:
        code = textwrap.dedent(raw).strip("\n")
        if len(code) < 3 or code in seen:
            continue
        try:
            ast.parse(code)
        except SyntaxError:
            continue
        seen[code] = None
    return list(seen)


# -- running -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    stdout: str
    result: str | None
    error: str | None  # exception type
    message: str = ""


_CPYTHON_CHILD = r"""
import ast, contextlib, io, json, resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
code = sys.stdin.read()
signal.alarm(%d)
out, value, error, message = io.StringIO(), None, None, ""
ns = {"__name__": "__main__"}
try:
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<block>", "exec"), ns)
        if last is not None:
            v = eval(compile(ast.Expression(last.value), "<block>", "eval"), ns)
            value = None if v is None else repr(v)[:2000]
except BaseException as exc:
    error, message = type(exc).__name__, str(exc)[:300]
print(json.dumps({"stdout": out.getvalue(), "result": value, "error": error, "message": message}))
"""


def run_cpython(code: str, cwd: str) -> Outcome:
    proc = subprocess.run([sys.executable, "-I", "-c", _CPYTHON_CHILD % int(TIMEOUT)], input=code, text=True,
                          capture_output=True, cwd=cwd, timeout=TIMEOUT + 5, check=False)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Outcome("", None, "Timeout" if proc.returncode == -14 else "Crash", proc.stderr[-300:])
    return Outcome(data["stdout"], data["result"], data["error"], data["message"])


def run_sandbox(code: str, workspace: Path) -> Outcome:
    from envloop.sandbox import Sandbox

    with Sandbox(workspace, timeout=TIMEOUT) as sandbox:
        result = sandbox.run(code)
    error = result.error or {}
    kind = {"timeout": "Timeout", "memory": "MemoryError"}.get(result.limit or "", error.get("type"))
    return Outcome(result.stdout, result.result, kind, error.get("message", ""))


def deliberate(outcome: Outcome) -> bool:
    if outcome.error == "NameError":
        return any(f"'{name}'" in outcome.message for name in _ABSENT_BUILTINS)
    return outcome.error is not None and any(m in outcome.message for m in _REFUSAL_MARKERS)


def classify(code: str, scratch: Path) -> tuple[str, Outcome, Outcome | None]:
    sandboxed = run_sandbox(code, scratch / "ws")
    if deliberate(sandboxed):
        return "refused", sandboxed, None
    reference = run_cpython(code, str(scratch))
    same = (sandboxed.stdout == reference.stdout and sandboxed.result == reference.result
            and sandboxed.error == reference.error)
    return ("same" if same else "wrong"), sandboxed, reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="smolagents clone or git directory (default $SMOLAGENTS_SRC)")
    parser.add_argument("--verbose", action="store_true", help="also list the deliberate refusals")
    args = parser.parse_args()
    codes = snippets(read_tests(args.source))
    counts = {"same": 0, "refused": 0, "wrong": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for n, code in enumerate(codes, 1):
            scratch = Path(tmp) / str(n)
            scratch.mkdir()
            verdict, sandboxed, reference = classify(code, scratch)
            counts[verdict] += 1
            if verdict == "wrong" or (verdict == "refused" and args.verbose):
                print(f"--- #{n} {verdict}\n{textwrap.indent(code, '    ')}")
                print(f"    sandbox: {sandboxed}")
                if reference is not None:
                    print(f"    CPython: {reference}")
    print(f"\n{len(codes)} snippets: {counts['same']} same as CPython, {counts['refused']} deliberate refusals, "
          f"{counts['wrong']} wrong")


if __name__ == "__main__":
    main()
