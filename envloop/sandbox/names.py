"""Which global names a block binds, deletes and reads, from its AST.

Versioning needs to know what a block may have changed (bound/deleted) and
what it depended on (read) without diffing the whole namespace, so change
detection costs what the block touches.  The analysis is static and errs on
the side of reporting: a name bound on a branch that did not run is still
"bound" here (the interpreter then checks the namespace).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


@dataclass
class BlockNames:
    """Global names a block stores to, deletes and loads."""

    bound: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    loaded: set[str] = field(default_factory=set)


@dataclass
class _Scope:
    kind: str  # module | function | class | comprehension
    parent: _Scope | None
    locals: set[str] = field(default_factory=set)
    globals: set[str] = field(default_factory=set)


def _params(args: ast.arguments) -> set[str]:
    every = args.posonlyargs + args.args + args.kwonlyargs
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return {a.arg for a in every}


def _stored_names(node: ast.AST) -> list[str]:
    """Names a single node binds in the scope it appears in."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return [node.id]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        return [node.name]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [node.rest]
    return []


def binds_name(node: ast.AST, name: str) -> bool:
    """Does ``node`` (re)bind ``name`` in some scope (store, parameter, import, capture, declaration)?"""
    if isinstance(node, ast.arg):
        return node.arg == name
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return name in node.names
    if isinstance(node, ast.alias):
        return (node.asname or node.name).split(".")[0] == name
    return name in _stored_names(node)


def _local_names(func: ast.AST) -> tuple[set[str], set[str]]:
    """(locals, declared globals) of a function body, not looking into nested scopes."""
    stored: set[str] = set()
    declared: set[str] = set()
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names) if isinstance(node, ast.Global) else stored.update(node.names)
            continue
        stored.update(_stored_names(node))
        if isinstance(node, _FUNCS + (ast.ClassDef,)):
            todo.extend(getattr(node, "decorator_list", []))
            if not isinstance(node, ast.ClassDef):
                todo.extend(node.args.defaults + [d for d in node.args.kw_defaults if d])
            else:
                todo.extend(node.bases + [k.value for k in node.keywords])
            continue
        if isinstance(node, _COMPS):
            todo.extend(n.target for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            continue
        todo.extend(ast.iter_child_nodes(node))
    if isinstance(func, _FUNCS):
        stored |= _params(func.args)
    return stored - declared, declared


class _Analyser(ast.NodeVisitor):
    def __init__(self) -> None:
        self.result = BlockNames()
        self.scope = _Scope("module", None)

    # -- helpers ------------------------------------------------------------
    def _store(self, name: str, deleting: bool = False) -> None:
        scope = self.scope
        while scope.kind == "comprehension" and name not in scope.locals:
            scope = scope.parent  # type: ignore[assignment]
        if scope.kind == "module" or name in scope.globals:
            (self.result.deleted if deleting else self.result.bound).add(name)

    def _load(self, name: str) -> None:
        scope: _Scope | None = self.scope
        while scope is not None and scope.kind != "module":
            if name in scope.globals:
                break
            if name in scope.locals and scope.kind != "class":
                return
            scope = scope.parent
        self.result.loaded.add(name)

    def _enter(self, kind: str, nodes: list[ast.AST], local: set[str], declared: set[str]) -> None:
        self.scope = _Scope(kind, self.scope, local, declared)
        try:
            for node in nodes:
                self.visit(node)
        finally:
            self.scope = self.scope.parent  # type: ignore[assignment]

    # -- visitors -----------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._load(node.id)
        else:
            self._store(node.id, deleting=isinstance(node.ctx, ast.Del))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self._load(node.target.id)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scope = self.scope
        while scope.kind == "comprehension":
            scope = scope.parent  # type: ignore[assignment]
        saved, self.scope = self.scope, scope
        try:
            self._store(node.target.id)
        finally:
            self.scope = saved

    def _binding(self, node: ast.AST) -> None:
        for name in _stored_names(node):
            self._store(name)
        self.generic_visit(node)

    visit_Import = visit_ImportFrom = visit_ExceptHandler = _binding
    visit_MatchAs = visit_MatchStar = visit_MatchMapping = _binding

    def visit_FunctionDef(self, node: ast.AST) -> None:
        for expr in getattr(node, "decorator_list", []):
            self.visit(expr)
        args: ast.arguments = node.args  # type: ignore[attr-defined]
        for expr in args.defaults + [d for d in args.kw_defaults if d]:
            self.visit(expr)
        if not isinstance(node, ast.Lambda):
            self._store(node.name)  # type: ignore[attr-defined]
        local, declared = _local_names(node)
        body = node.body if isinstance(node.body, list) else [node.body]  # type: ignore[attr-defined]
        self._enter("function", body, local, declared)

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(expr)
        self._store(node.name)
        local, declared = _local_names(node)
        self._enter("class", list(node.body), local, declared)

    def _comprehension(self, node: ast.AST) -> None:
        gens: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        self.visit(gens[0].iter)  # evaluated in the enclosing scope
        targets = {n.id for g in gens for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        rest: list[ast.AST] = [*(g.target for g in gens), *(g.iter for g in gens[1:])]
        rest += [c for g in gens for c in g.ifs]
        rest += [getattr(node, a) for a in ("elt", "key", "value") if hasattr(node, a)]
        self._enter("comprehension", rest, targets, set())

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


def analyse_names(tree: ast.Module) -> BlockNames:
    """Bound, deleted and loaded global names of a parsed block."""
    analyser = _Analyser()
    analyser.visit(tree)
    return analyser.result
