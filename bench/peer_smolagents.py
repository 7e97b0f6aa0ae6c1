"""Peer suite: every program smolagents' executor tests execute, run in envloop's sandbox and in CPython.

smolagents' ``tests/test_local_python_executor.py`` hands a few hundred small programs
to its executor (and a few dozen escape attempts).  This script reads that file *at
run time* from a local clone (nothing of it is kept in this repository), finds every
program it executes and runs each one in a fresh envloop sandbox and in a fresh
CPython process, then sorts the outcomes:

* **same**: what CPython gives: the same printed output, the same value of a
  trailing expression, the same exception type (or both fine), and the same final
  values of the names the program assigns at the top level;
* **refused**: a deliberate security refusal of the sandbox (an import outside
  the allowlist, a dunder or frame attribute, ``eval``/``open``/``globals``
  ...); CPython is not even asked, so none of those programs run unsandboxed;
* **wrong**: anything else: a harmless program refused for no reason, or a
  different answer.  Each is listed with both outcomes.

Finding the programs (see ``_Walker``): each test function is walked once per
parametrize case, following its assignments (strings, ``dedent``, ``str.format``,
f-strings, literals) to every ``evaluate_python_code(...)`` call, every call of a
``LocalPythonExecutor`` and every ``evaluate_boolop/condition/subscript/delete`` of
``ast.parse(code)``.  The state and tools a test gives a program become a prelude of
definitions run before it in both runs (``state={"x": 3}`` is ``x = 3``; a class the
test defines is its source; ``final_answer`` is the function returning its answer).

Usage::

    python bench/peer_smolagents.py [PATH-TO-SMOLAGENTS-CLONE-OR-GIT-DIR] [--verbose] [--list]

The clone defaults to ``$SMOLAGENTS_SRC``, then to the local mirror.  A bare git
directory works too (files are read with ``git show HEAD:...``).
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import operator
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEST_FILE = "tests/test_local_python_executor.py"
EXECUTOR_FILE = "src/smolagents/local_python_executor.py"
DEFAULT_MIRROR = "/work/.mirror/huggingface+smolagents"
FINAL_ANSWER_EXCEPTION = "FinalAnswerException"
TIMEOUT = 5.0  # longer than the tests' longest sleep (3 s), so sleeping is not mistaken for hanging

# -- reading the clone -----------------------------------------------------------------------------


def _candidates(source: str | None) -> list[Path]:
    given = source or os.environ.get("SMOLAGENTS_SRC") or DEFAULT_MIRROR
    where = Path(given).expanduser()
    return [where, where / "repo", where / ".git"]


def read_clone(source: str | None) -> tuple[str, str | None]:
    """The test file's text and the executor module's text (None if absent), from a work tree or
    a git directory.  Nothing of either is ever copied into this repository."""
    for where in _candidates(source):
        if (where / TEST_FILE).is_file():
            executor = where / EXECUTOR_FILE
            return (where / TEST_FILE).read_text(encoding="utf-8"), (
                executor.read_text(encoding="utf-8") if executor.is_file() else None)
        if (where / "HEAD").is_file():
            texts = []
            for path in (TEST_FILE, EXECUTOR_FILE):
                out = subprocess.run(["git", "--git-dir", str(where), "show", f"HEAD:{path}"],
                                     capture_output=True, text=True, check=False)
                texts.append(out.stdout if out.returncode == 0 else None)
            if texts[0] is not None:
                return texts[0], texts[1]
    raise FileNotFoundError(f"no smolagents clone at {source or os.environ.get('SMOLAGENTS_SRC') or DEFAULT_MIRROR!r}:"
                            " pass its path or set SMOLAGENTS_SRC")


# -- extraction: a small static walk of the test functions ----------------------------------------
#
# Every test function is walked once per parametrize case (the cartesian product of its
# parametrize decorators).  The walk follows assignments statement by statement, computing the
# values it can (strings, dedent, str.format, f-strings, literals, ast.parse of a string) and
# keeping the rest as source (a pandas object, a lambda, an instance of a class the test defines).
# Every call that runs code is recorded with the state and the tools it is given:
# evaluate_python_code(code, static_tools, custom_tools, state), a LocalPythonExecutor instance
# called on code (with what send_tools gave it) and evaluate_boolop / evaluate_condition /
# evaluate_subscript / evaluate_delete on ast.parse(code) with a state.


@dataclass(frozen=True)
class _Unknown:
    what: str = ""


UNKNOWN = _Unknown()
BASE_TOOLS = _Unknown("BASE_PYTHON_TOOLS")  # smolagents' builtins: the same names exist in both runs
FINAL_ANSWER_TOOL = _Unknown("FinalAnswerTool")


@dataclass(frozen=True)
class _Def:
    """A function or class of the test file, reproduced from its source."""

    node: ast.FunctionDef | ast.ClassDef


@dataclass(frozen=True)
class _Expr:
    """An expression kept as source, with the values of the names it uses."""

    node: ast.expr
    names: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Imported:
    module: str
    attr: str | None = None


@dataclass(frozen=True)
class _Builtin:
    name: str


@dataclass(frozen=True)
class _Parsed:
    """``ast.parse(code)`` (and any ``.body[0].value`` taken of it)."""

    code: str


@dataclass
class _Executor:
    tools: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Program:
    """One program the test file executes, as this suite runs it."""

    code: str  # the code the test hands to the executor
    prelude: str  # definitions standing in for the state and tools the test gives it
    where: str  # test id: class::function[case]
    notes: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return f"{self.prelude}\n{self.code}" if self.prelude else self.code


_COMPARE: dict[type, Any] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_NODE_EVALUATORS = {"evaluate_boolop", "evaluate_condition", "evaluate_subscript", "evaluate_delete"}
_STR_METHODS = {"format", "rsplit", "split", "strip", "replace", "join", "lower", "upper"}
_LITERALS = (str, int, float, bool, type(None), bytes)


def _is_literal(value: Any) -> bool:
    if isinstance(value, _LITERALS):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(_is_literal(k) and _is_literal(v) for k, v in value.items())
    return False


def _free_names(node: ast.AST) -> list[str]:
    bound = {a.arg for lam in ast.walk(node) if isinstance(lam, ast.Lambda) for a in lam.args.args}
    names: dict[str, None] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id not in bound:
            names[sub.id] = None
    return list(names)


class _Walker:
    def __init__(self, test_source: str, executor_source: str | None) -> None:
        self.tree = ast.parse(test_source)
        self.library = self._library_constants(executor_source)
        self.module: dict[str, Any] = {}
        self.found: list[tuple[str, dict[str, Any], dict[str, Any], str]] = []
        self.skipped: list[str] = []

    @staticmethod
    def _library_constants(source: str | None) -> dict[str, Any]:
        """Module-level literals of the executor module (``DANGEROUS_FUNCTIONS``...)."""
        values: dict[str, Any] = {}
        if source is None:
            return values
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    values[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
        return values

    # -- values

    def value(self, node: ast.expr | None, env: dict[str, Any]) -> Any:
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id] if node.id in env else _Builtin(node.id)
        if isinstance(node, ast.JoinedStr):
            parts = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    parts.append(str(part.value))
                    continue
                assert isinstance(part, ast.FormattedValue)
                inner = self.value(part.value, env)
                spec = self.value(part.format_spec, env) if part.format_spec else ""
                if not _is_literal(inner) or not isinstance(spec, str):
                    return self._expr(node, env)
                inner = {ord("r"): repr, ord("s"): str, ord("a"): ascii}.get(part.conversion, lambda v: v)(inner)
                parts.append(format(inner, spec))
            return "".join(parts)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.value(e, env) for e in node.elts]
            if isinstance(node, ast.Set):
                return set(items) if all(_is_literal(i) for i in items) else self._expr(node, env)
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            result: dict[Any, Any] = {}
            for key, val in zip(node.keys, node.values, strict=True):
                if key is None:
                    more = self.value(val, env)
                    if isinstance(more, dict):
                        result.update(more)
                    continue
                k = self.value(key, env)
                if not _is_literal(k):
                    return self._expr(node, env)
                result[k] = self.value(val, env)
            return result
        if isinstance(node, ast.BinOp):
            left, right = self.value(node.left, env), self.value(node.right, env)
            if isinstance(node.op, ast.BitOr) and isinstance(left, (dict, _Unknown)) and isinstance(right, (dict, _Unknown)):
                return {**(left if isinstance(left, dict) else {}), **(right if isinstance(right, dict) else {})}
            if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
                return left + right
            return self._expr(node, env)
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            base = self.value(node.value, env)
            if isinstance(base, _Parsed):
                return base
            if isinstance(node, ast.Subscript) and isinstance(base, (dict, list, tuple)):
                key = self.value(node.slice, env)
                try:
                    return base[key]
                except (KeyError, IndexError, TypeError):
                    return UNKNOWN
            if isinstance(node, ast.Attribute) and isinstance(base, _Imported):
                return _Imported(base.module, node.attr) if base.attr is None else UNKNOWN
            return self._expr(node, env)
        if isinstance(node, ast.Call):
            return self._call_value(node, env)
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
            return self._logic(node, env)
        return self._expr(node, env)

    def _logic(self, node: ast.Compare | ast.BoolOp | ast.UnaryOp, env: dict[str, Any]) -> Any:
        """Conditions of the tests' ``if``s, where their operands are known; else UNKNOWN."""
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand, env)
            return (not operand) if isinstance(node.op, ast.Not) and _is_literal(operand) else UNKNOWN
        if isinstance(node, ast.BoolOp):
            values = [self.value(v, env) for v in node.values]
            decisive = [v for v in values if _is_literal(v) and bool(v) == isinstance(node.op, ast.Or)]
            if decisive:
                return decisive[0]
            return values[-1] if all(map(_is_literal, values)) else UNKNOWN
        left = self.value(node.left, env)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value(right_node, env)
            if isinstance(op, (ast.Is, ast.IsNot)) and right is None and left is not UNKNOWN:
                outcome = (left is None) == isinstance(op, ast.Is)
            elif _is_literal(left) and _is_literal(right):
                outcome = _COMPARE[type(op)](left, right)
            else:
                return UNKNOWN
            if not outcome:
                return False
            left = right
        return True

    def _call_value(self, node: ast.Call, env: dict[str, Any]) -> Any:
        func = node.func
        args = [self.value(a, env) for a in node.args]
        kwargs = {k.arg: self.value(k.value, env) for k in node.keywords if k.arg}
        callee = self.value(func, env) if isinstance(func, ast.Name) else None
        if isinstance(callee, _Imported) and callee.attr == "dedent" and args and isinstance(args[0], str):
            return textwrap.dedent(args[0])
        if callee == FINAL_ANSWER_TOOL:
            return FINAL_ANSWER_TOOL
        if isinstance(callee, _Imported) and callee.attr == "LocalPythonExecutor":
            return _Executor()
        if callee == _Builtin("isinstance") and len(node.args) == 2 and isinstance(node.args[1], ast.Name):
            kind = getattr(builtins, node.args[1].id, None)
            if _is_literal(args[0]) and isinstance(kind, type):
                return isinstance(args[0], kind)
            if isinstance(args[0], _Expr) and isinstance(kind, type):  # an exception the test constructs?
                built = args[0].node
                made = built.func.id if isinstance(built, ast.Call) and isinstance(built.func, ast.Name) else ""
                return made.endswith(("Error", "Exception")) and issubclass(kind, BaseException) \
                    and kind in (Exception, BaseException)
        if isinstance(func, ast.Attribute):
            base = self.value(func.value, env)
            if base == _Imported("ast") and func.attr == "parse":
                return _Parsed(args[0]) if args and isinstance(args[0], str) else UNKNOWN
            if isinstance(base, str) and func.attr in _STR_METHODS and all(map(_is_literal, args)) \
                    and all(map(_is_literal, kwargs.values())):
                return getattr(base, func.attr)(*args, **kwargs)
        return self._expr(node, env)

    def _expr(self, node: ast.expr, env: dict[str, Any]) -> _Expr:
        return _Expr(node, tuple((name, env[name]) for name in _free_names(node) if name in env))

    # -- statements

    def bind(self, target: ast.expr, value: Any, env: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            seq = value if isinstance(value, (list, tuple)) and len(value) == len(target.elts) else None
            for i, elt in enumerate(target.elts):
                self.bind(elt, seq[i] if seq is not None else UNKNOWN, env)

    def block(self, body: list[ast.stmt], env: dict[str, Any], where: str) -> bool:
        """Walk statements in order; False once the test stops (``pytest.skip``, ``return``...)."""
        return all(self.statement(stmt, env, where) for stmt in body)  # all() stops at the first False

    def statement(self, stmt: ast.stmt, env: dict[str, Any], where: str) -> bool:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self.imports(stmt, env)
        elif isinstance(stmt, ast.ClassDef):
            env[stmt.name] = _Def(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A helper defined inside a test is called by it (run_in_thread): walk its body too.
            env[stmt.name] = _Def(stmt) if isinstance(stmt, ast.FunctionDef) else UNKNOWN
            self.block(stmt.body, dict(env), where)
        elif isinstance(stmt, ast.If):
            self.calls(stmt.test, env, where)
            test = self.value(stmt.test, env)
            if _is_literal(test):
                return self.block(stmt.body if test else stmt.orelse, env, where)
            # Undecidable here (which modules a pytest process imported...): the branch that
            # goes on is followed, the one that skips is noted.
            for branch in (stmt.body, stmt.orelse):
                inner = dict(env)
                if not self.block(branch, inner, where):
                    self.skipped.append(f"{where}: may skip ({ast.unparse(stmt.test)})")
            return True
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self.calls(item.context_expr, env, where)
            return self.block(stmt.body, env, where)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            self.calls(stmt.iter, env, where)
            items = self.value(stmt.iter, env)
            if isinstance(items, (list, tuple)) and not any(isinstance(stmt_, ast.Break) for stmt_ in ast.walk(stmt)):
                for item in items:
                    self.bind(stmt.target, item, env)
                    self.block(stmt.body, env, where)
            else:
                self.bind(stmt.target, UNKNOWN, env)
                self.block(stmt.body, env, where)
        elif isinstance(stmt, ast.Try):
            self.block(stmt.body, env, where)
            for handler in stmt.handlers:
                self.block(handler.body, dict(env), where)
            self.block(stmt.orelse, env, where)
            self.block(stmt.finalbody, env, where)
        elif isinstance(stmt, ast.While):
            self.block(stmt.body, env, where)
        else:
            self.calls(stmt, env, where)
            if isinstance(stmt, ast.Assign):
                value = self.value(stmt.value, env)
                for target in stmt.targets:
                    self.bind(target, value, env)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self.bind(stmt.target, self.value(stmt.value, env), env)
            elif isinstance(stmt, ast.AugAssign):
                self.bind(stmt.target, UNKNOWN, env)
            elif isinstance(stmt, (ast.Return, ast.Raise)):
                return False
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                func = stmt.value.func
                if isinstance(func, ast.Attribute) and func.attr == "skip":
                    return False
        return True

    def imports(self, stmt: ast.Import | ast.ImportFrom, env: dict[str, Any]) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                env[alias.asname or alias.name.split(".")[0]] = _Imported(alias.name if alias.asname else alias.name.split(".")[0])
            return
        module = stmt.module or ""
        for alias in stmt.names:
            name = alias.asname or alias.name
            if module.startswith("smolagents") and alias.name in self.library:
                env[name] = self.library[alias.name]
            elif alias.name == "BASE_PYTHON_TOOLS":
                env[name] = BASE_TOOLS
            elif alias.name == "FinalAnswerTool":
                env[name] = FINAL_ANSWER_TOOL
            else:
                env[name] = _Imported(module, alias.name)

    def calls(self, node: ast.AST, env: dict[str, Any], where: str) -> None:
        """Record the executions among the calls of one statement's expressions, in source order."""
        calls = sorted((n for n in ast.walk(node) if isinstance(n, ast.Call)),
                       key=lambda n: (n.lineno, n.col_offset))
        for call in calls:
            func = call.func
            name = func.id if isinstance(func, ast.Name) else None
            args = list(call.args)
            keywords = {k.arg: k.value for k in call.keywords if k.arg}

            def arg(i: int, key: str, args: list[ast.expr] = args, keywords: dict[str, ast.expr] = keywords) -> Any:
                node = args[i] if len(args) > i else keywords.get(key)
                return self.value(node, env) if node is not None else None

            if name == "evaluate_python_code":
                tools: dict[str, Any] = {}
                for extra in (arg(1, "static_tools"), arg(2, "custom_tools")):
                    if isinstance(extra, dict):
                        tools.update(extra)
                state = arg(3, "state")
                self.record(arg(0, "code"), state if isinstance(state, dict) else {}, tools, where)
            elif name in _NODE_EVALUATORS:
                parsed, state = arg(0, "node"), arg(1, "state")
                code = parsed.code if isinstance(parsed, _Parsed) else parsed
                self.record(code, state if isinstance(state, dict) else {}, {}, where)
            elif isinstance(func, ast.Attribute) and func.attr == "send_tools":
                executor = self.value(func.value, env)
                tools_given = arg(0, "tools")
                if isinstance(executor, _Executor) and isinstance(tools_given, dict):
                    executor.tools.update(tools_given)
            elif name is not None and isinstance(env.get(name), _Executor):
                self.record(arg(0, "code_action"), {}, dict(env[name].tools), where)

    def record(self, code: Any, state: dict[str, Any], tools: dict[str, Any], where: str) -> None:
        if not isinstance(code, str):
            self.skipped.append(f"{where}: code not computable ({type(code).__name__})")
            return
        self.found.append((code, state, tools, where))

    # -- the whole file

    def run(self) -> None:
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.imports(stmt, self.module)
            elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)) and not stmt.name.startswith("test"):
                self.module[stmt.name] = _Def(stmt)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name.startswith("test"):
                self.test(stmt, stmt.name)
            elif isinstance(stmt, ast.ClassDef) and stmt.name.startswith("Test"):
                for method in stmt.body:
                    if isinstance(method, ast.FunctionDef) and method.name.startswith("test"):
                        self.test(method, f"{stmt.name}::{method.name}")

    def test(self, fn: ast.FunctionDef, name: str) -> None:
        tables = [self.parametrize(dec) for dec in fn.decorator_list]
        tables = [t for t in tables if t is not None]
        cases: list[tuple[str, dict[str, Any]]] = [("", {})]
        for table in reversed(tables):  # pytest's ids: the innermost decorator first
            cases = [(f"{cid}-{tid}" if cid else tid, {**cbind, **tbind})
                     for cid, cbind in cases for tid, tbind in table]
        for case_id, binding in cases:
            env = {**self.module, **binding}
            self.block(fn.body, env, f"{name}[{case_id}]" if case_id else name)

    def parametrize(self, dec: ast.expr) -> list[tuple[str, dict[str, Any]]] | None:
        if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "parametrize"):
            return None
        names_value = self.value(dec.args[0], self.module)
        names = ([n.strip() for n in names_value.split(",")] if isinstance(names_value, str)
                 else [str(n) for n in names_value])
        table = self.value(dec.args[1], self.module) if len(dec.args) > 1 else []
        rows = []
        raw = dec.args[1].elts if isinstance(dec.args[1], (ast.List, ast.Tuple)) else None
        for i, row in enumerate(table if isinstance(table, (list, tuple)) else []):
            node = raw[i] if raw is not None else None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "param":
                row = [self.value(a, self.module) for a in node.args]
                row = row[0] if len(names) == 1 else row
            values = [row] if len(names) == 1 else list(row)
            rows.append((str(i), dict(zip(names, values, strict=True))))
        return rows


# -- the prelude: the test's state and tools, written as definitions -----------------------------


class _Prelude:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.defined: set[str] = set()
        self.notes: list[str] = []

    def define(self, name: str, value: Any) -> None:
        if isinstance(value, _Def):
            if value.node.name not in self.defined:
                self.lines.append(ast.unparse(value.node))
                self.defined.add(value.node.name)
            if name != value.node.name:
                self.lines.append(f"{name} = {value.node.name}")
        elif isinstance(value, _Expr):
            for sub, inner in value.names:
                if sub != name:
                    self.define(sub, inner)
            self.lines.append(f"{name} = {ast.unparse(value.node)}")
        elif isinstance(value, _Imported):
            if value.attr is None:
                line = f"import {value.module}" + (f" as {name}" if name != value.module else "")
            else:
                line = f"from {value.module} import {value.attr}" + (f" as {name}" if name != value.attr else "")
            if line not in self.lines:
                self.lines.append(line)
        elif isinstance(value, _Builtin):
            if value.name != name:
                self.lines.append(f"{name} = {value.name}")
        elif _is_literal(value):
            self.lines.append(f"{name} = {value!r}")
        else:
            self.notes.append(f"{name}: not reproducible ({value!r:.60})")
        self.defined.add(name)

    def tool(self, name: str, value: Any) -> None:
        if name == "final_answer" and (value == FINAL_ANSWER_TOOL or isinstance(value, _Expr)):
            # As smolagents does it: the tool's value leaves the program as an exception that
            # ``except Exception`` does not catch (its FinalAnswerTool returns its answer).
            inner = "lambda answer: answer" if value == FINAL_ANSWER_TOOL else ast.unparse(value.node)
            self.lines.append(f"class {FINAL_ANSWER_EXCEPTION}(BaseException):\n    pass\n"
                              f"def final_answer(*args, **kwargs):\n"
                              f"    raise {FINAL_ANSWER_EXCEPTION}(({inner})(*args, **kwargs))")
            self.notes.append("final_answer ends the program with its value, as in smolagents")
            return
        if isinstance(value, _Builtin) and value.name == name:
            return  # the builtin itself: both runs have it (or the sandbox refuses it on purpose)
        if isinstance(value, _Expr) and isinstance(value.node, ast.Lambda) and name in _free_names(value.node):
            self.notes.append(f"{name}: the test wraps the builtin in a lambda; the builtin is used")
            return
        self.define(name, value)


def programs(test_source: str, executor_source: str | None) -> tuple[list[Program], list[str]]:
    """Every execution of the test file, in file order, and what could not be followed."""
    walker = _Walker(test_source, executor_source)
    walker.run()
    result = []
    for code, state, tools, where in walker.found:
        prelude = _Prelude()
        for name, value in tools.items():
            if value is not BASE_TOOLS:
                prelude.tool(name, value)
        for name, value in state.items():
            prelude.define(name, value)
        result.append(Program(code, "\n".join(prelude.lines), where, tuple(prelude.notes)))
    return result, walker.skipped


# -- running -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    stdout: str
    result: str | None
    error: str | None  # exception type
    message: str = ""
    names: str = ""  # the probe's output: the final value of each top-level name


_CPYTHON_CHILD = r"""
import ast, contextlib, io, json, resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
job = json.loads(sys.stdin.read())
signal.alarm(%d)
out, value, error, message = io.StringIO(), None, None, ""
ns = {"__name__": "__main__"}
try:
    tree = ast.parse(job["code"])
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<block>", "exec"), ns)
        if last is not None:
            v = eval(compile(ast.Expression(last.value), "<block>", "eval"), ns)
            value = None if v is None else repr(v)[:2000]
except BaseException as exc:
    error, message = type(exc).__name__, str(exc)[:300]
names = io.StringIO()
try:
    with contextlib.redirect_stdout(names):
        exec(job["probe"], ns)
except BaseException as exc:
    names.write(f"probe failed: {type(exc).__name__}")
print(json.dumps({"stdout": out.getvalue(), "result": value, "error": error, "message": message,
                  "names": names.getvalue()}))
"""

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _plain(text: str | None) -> str | None:
    return None if text is None else _ADDRESS.sub(" at 0x…", text)


def probe(source: str) -> str:
    """Code printing the final value of every name ``source`` assigns at the top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    names: dict[str, None] = {}

    def targets(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names[sub.id] = None

    def walk(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                for target in getattr(stmt, "targets", None) or [stmt.target]:  # type: ignore[attr-defined]
                    targets(target)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                targets(stmt.target)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            for inner in ("body", "orelse", "finalbody"):
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    walk(getattr(stmt, inner, []))
            for handler in getattr(stmt, "handlers", []):
                walk(handler.body)

    walk(tree.body)
    return "".join(f"try:\n    print({name!r}, repr({name}))\nexcept NameError:\n    print({name!r}, 'unbound')\n"
                   for name in names if not name.startswith("_"))


def run_cpython(code: str, cwd: str) -> Outcome:
    job = json.dumps({"code": code, "probe": probe(code)})
    proc = subprocess.run([sys.executable, "-I", "-c", _CPYTHON_CHILD % int(TIMEOUT)], input=job, text=True,
                          capture_output=True, cwd=cwd, timeout=TIMEOUT + 10, check=False)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Outcome("", None, "Timeout" if proc.returncode == -14 else "Crash", proc.stderr[-300:])
    return Outcome(data["stdout"], _plain(data["result"]), data["error"], data["message"], _plain(data["names"]) or "")


def run_sandbox(code: str, workspace: Path) -> Outcome:
    from envloop.sandbox import Sandbox

    with Sandbox(workspace, timeout=TIMEOUT) as sandbox:
        result = sandbox.run(code)
        names = ""
        if result.limit is None:
            probed = sandbox.run(probe(code))
            names = probed.stdout + (f"probe failed: {probed.error['type']}" if probed.error else "")
    error = result.error or {}
    kind = {"timeout": "Timeout", "memory": "MemoryError"}.get(result.limit or "", error.get("type"))
    return Outcome(result.stdout, _plain(result.result), kind, error.get("message", ""), _plain(names) or "")


# -- sorting -------------------------------------------------------------------------------------

# envloop's deliberate security refusals, by message.  Anything else the sandbox refuses (a
# feature it lacks, a private name RestrictedPython rejects) is *wrong*, not deliberate.
_DELIBERATE = tuple(re.compile(pattern) for pattern in (
    r"module '[\w.]+' is not allowed in the sandbox",  # the import allowlist
    r"relative imports are not allowed in the sandbox",
    r'"__\w+__" is an invalid (attribute|variable) name',  # dunder names, at compile time
    r'"\w+" is a restricted name',  # frame, code and generator internals (f_builtins, tb_frame...)
    r"\b(Eval|Exec) calls are not allowed",
    r"is not accessible in the sandbox",  # the attribute guard: dunders, modules' private names
    r"is read-only in the sandbox",  # module facades
    r"cannot set a private attribute",
    r"vars\(\) is only available for instances",
    r"format field attribute .* is not allowed in the sandbox",
))
# Builtins the sandbox leaves out on purpose: using one is a NameError there.
_ABSENT_BUILTINS = ("open", "eval", "exec", "compile", "globals", "locals", "__import__", "input",
                    "breakpoint", "help", "exit", "quit", "memoryview", "aiter", "anext")


def deliberate(outcome: Outcome) -> bool:
    if outcome.error == "NameError":
        return any(f"'{name}'" in outcome.message for name in _ABSENT_BUILTINS)
    return outcome.error is not None and any(p.search(outcome.message) for p in _DELIBERATE)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _Unknown(text)


def same_text(sandboxed: str | None, reference: str | None) -> bool:
    """Equal, or equal but for the order of a set's items (string hashes are salted per process,
    so two CPython processes print the same set of strings in different orders)."""
    if sandboxed == reference or sandboxed is None or reference is None:
        return sandboxed == reference
    ours, theirs = sandboxed.split("\n"), reference.split("\n")
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if a == b or "{" not in a:
            if a != b:
                return False
            continue
        head_a, _, tail_a = a.partition(" ")
        head_b, _, tail_b = b.partition(" ")
        if _literal(a) != _literal(b) and (head_a != head_b or _literal(tail_a) != _literal(tail_b)):
            return False
    return True


def classify(code: str, scratch: Path) -> tuple[str, Outcome, Outcome | None]:
    sandboxed = run_sandbox(code, scratch / "ws")
    if deliberate(sandboxed):
        return "refused", sandboxed, None
    reference = run_cpython(code, str(scratch))
    same = (same_text(sandboxed.stdout, reference.stdout) and same_text(sandboxed.result, reference.result)
            and sandboxed.error == reference.error and same_text(sandboxed.names, reference.names)
            and (sandboxed.error != FINAL_ANSWER_EXCEPTION
                 or _plain(sandboxed.message) == _plain(reference.message)))  # the final answer itself
    return ("same" if same else "wrong"), sandboxed, reference


@dataclass
class Report:
    programs: list[Program]
    skipped: list[str]
    verdicts: dict[str, tuple[str, Outcome, Outcome | None]]  # by source

    def counts(self, distinct: bool) -> dict[str, int]:
        counts = {"same": 0, "refused": 0, "wrong": 0}
        sources = list(self.verdicts) if distinct else [p.source for p in self.programs]
        for source in sources:
            counts[self.verdicts[source][0]] += 1
        return counts

    def summary(self) -> str:
        runs, distinct = self.counts(False), self.counts(True)
        return (f"{len(self.programs)} executions ({len(self.verdicts)} distinct programs): "
                f"{runs['same']} ({distinct['same']}) same as CPython, "
                f"{runs['refused']} ({distinct['refused']}) deliberate refusals, "
                f"{runs['wrong']} ({distinct['wrong']}) wrong")


def run_suite(source: str | None, progress: Any = None) -> Report:
    found, skipped = programs(*read_clone(source))
    verdicts: dict[str, tuple[str, Outcome, Outcome | None]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, program in enumerate(found, 1):
            if program.source in verdicts:
                continue
            scratch = Path(tmp) / str(n)
            scratch.mkdir()
            verdicts[program.source] = classify(program.source, scratch)
            if progress is not None:
                progress(program, *verdicts[program.source])
    return Report(found, skipped, verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="smolagents clone or git directory (default $SMOLAGENTS_SRC)")
    parser.add_argument("--verbose", action="store_true", help="also list the deliberate refusals")
    parser.add_argument("--list", action="store_true", help="only list the programs found, without running them")
    args = parser.parse_args()
    if args.list:
        found, skipped = programs(*read_clone(args.source))
        for program in found:
            print(f"--- {program.where}" + "".join(f"\n    # {note}" for note in program.notes))
            print(textwrap.indent(program.source, "    "))
        print("\n".join(skipped))
        print(f"\n{len(found)} executions, {len({p.source for p in found})} distinct programs")
        return

    def show(program: Program, verdict: str, sandboxed: Outcome, reference: Outcome | None) -> None:
        if verdict == "wrong" or (verdict == "refused" and args.verbose):
            print(f"--- {program.where} {verdict}" + "".join(f"\n    # {note}" for note in program.notes))
            print(textwrap.indent(program.source, "    "))
            print(f"    sandbox: {sandboxed}")
            if reference is not None:
                print(f"    CPython: {reference}")

    report = run_suite(args.source, show)
    if report.skipped:
        print("\nnot followed or conditional:\n  " + "\n  ".join(report.skipped))
    print("\n" + report.summary())


if __name__ == "__main__":
    main()
