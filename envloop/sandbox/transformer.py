"""envloop's extension of RestrictedPython's compile-time policy.

RestrictedPython's stock transformer routes every attribute read, subscript,
iteration and in-place operator through a Python-level guard.  That costs
1.4x-4x on compute code, and its write guard refuses ``self.x = x``.
:class:`EnvloopTransformer` keeps every stock *name* check (underscore names,
``INSPECT_ATTRIBUTES`` such as ``gi_frame``/``f_globals``, ``__roles__``,
reserved names, guard shadowing through parameters, ``except*``, async) and then:

* emits native attribute reads/writes for public names that are statically
  safe.  This is sound only because nothing the sandbox can name exposes a
  module, frame or code object through a public attribute: imports hand out
  sanitised module copies (:mod:`envloop.sandbox.modules`) and the frame/code
  walks all go through names rejected here;
* keeps a runtime guard (``_getattr_`` / ``_write_``) only where the answer
  depends on the object: ``_private`` names (allowed on the conversation's own
  classes and instances), a vetted set of dunder reads (``type(x).__name__``,
  ``super().__init__``) and the ``format``/``format_map``/``Formatter`` names
  whose stock behaviour is the historical ``str.format`` CVE;
* emits native subscripts, iteration and unpacking (nothing to guard there
  once attribute walks are closed);
* emits native augmented assignment unless the statement could grow a
  sequence explosively (``s += s``, ``xs *= n``, ``x **= y``), which goes
  through the size-checking ``_inplacevar_``/``_inplace_attr_``/``_inplace_item_``;
* accepts the idioms models write: ``counts[w] += 1``, ``self.total += n``,
  annotated assignments, data-model dunders in class bodies, ``nonlocal``,
  ``match``, ``_private`` locals and class attributes.
"""

from __future__ import annotations

import ast
from typing import cast

from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    copy_locations,
)

from envloop.sandbox._match_ast import MatchRewrite
from envloop.sandbox.names import binds_name
from envloop.sandbox.rules import (
    ALLOWED_DUNDER_READS,
    CLASS_BODY_DUNDER_NAMES,
    DATA_MODEL_DUNDERS,
    METACLASS_NAME,
    RUNTIME_CHECKED_NAMES,
    is_private_name,
    mangle,
)

Visit = ast.AST | list[ast.AST] | None
_REBINDABLE = frozenset({"print", "printed", "builtins"})  # RestrictedPython reserves them; envloop needs not

def _call(func: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(func, ast.Load()), args=args, keywords=[])
    copy_locations(node, like)  # type: ignore[arg-type]
    return node


def _as_load(node: ast.expr) -> ast.expr:
    """Turn a ``Slice`` (legal only inside a subscript) into a ``slice(...)`` call."""
    if isinstance(node, ast.Slice):
        parts = [node.lower, node.upper, node.step]
        return _call("_slice_", [p if p is not None else ast.Constant(None) for p in parts], node)
    if isinstance(node, ast.Tuple):
        return ast.Tuple([_as_load(e) for e in node.elts], ast.Load())
    return node


class EnvloopTransformer(MatchRewrite):
    """Stock RestrictedPython checks, native code for everything statically safe."""

    def __init__(self, errors=None, warnings=None, used_names=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(errors, warnings, used_names)
        self.scopes: list[str] = ["module"]  # module | class | function | comprehension
        self.class_names: list[str] = []
        self.selves: list[_SelfContext] = []  # methods whose first parameter is never rebound
        self._self_count = 0
        self._match_count = 0

    # -- names --------------------------------------------------------------
    def check_name(self, node: ast.AST, name: str | None, allow_magic_methods: bool = False) -> None:
        """Stock check, plus ``_private`` names (``_cache``, ``def _helper``) and rebinding ``print``.

        The guards' own names end in ``_`` (``_getattr_``) and generated ones look like
        ``_tmp3``; :func:`is_private_name` excludes both, so a block cannot shadow them.
        """
        if name is not None and (is_private_name(name) or name in _REBINDABLE):
            return
        if self.scopes[-1] == "class" and (name in CLASS_BODY_DUNDER_NAMES or name in DATA_MODEL_DUNDERS):
            return  # `__slots__ = ...`, `__rmul__ = __mul__`, `__hash__ = None`
        super().check_name(node, name, allow_magic_methods)  # type: ignore[arg-type]

    def visit_Name(self, node: ast.Name) -> Visit:
        """The stock check; ``print`` is an ordinary builtin (the block's collector), so it can be rebound."""
        if isinstance(node.ctx, ast.Load):
            self.used_names[node.id] = True
            if node.id == "__name__":
                return node  # `if __name__ == "__main__":`
        self.check_name(node, node.id)
        return node

    def inject_print_collector(self, node, position=0):  # type: ignore[no-untyped-def]
        """No per-function collectors: ``print`` is one builtin writing to one buffer per block."""

    # -- attributes ---------------------------------------------------------
    def _reject_attr(self, node: ast.Attribute) -> bool:
        attr = node.attr
        if attr.endswith("__roles__"):
            self.error(node, f'"{attr}" is an invalid attribute name because it ends with "__roles__".')
        elif attr in INSPECT_ATTRIBUTES:
            self.error(node, f'"{attr}" is a restricted name, that is forbidden to access in RestrictedPython.')
        else:
            return False
        return True

    def _underscore_error(self, node: ast.Attribute) -> None:
        self.error(node, f'"{node.attr}" is an invalid attribute name because it starts with "_".')

    def visit_Attribute(self, node: ast.Attribute) -> Visit:
        """Native access for public names; runtime guard for names whose safety depends on the object."""
        node = self.node_contents_visit(node)
        if self._reject_attr(node):
            return node
        attr = node.attr
        load = isinstance(node.ctx, ast.Load)
        if not attr.startswith("_") or attr == "_":
            if load and (attr in RUNTIME_CHECKED_NAMES or METACLASS_NAME.match(attr)):
                return _call("_getattr_", [node.value, ast.Constant(attr)], node)
            return node
        dunder = attr.startswith("__") and attr.endswith("__")
        if dunder:
            if not load:
                self._underscore_error(node)
                return node
            if attr in DATA_MODEL_DUNDERS and self._is_super_call(node.value):
                return node  # super().__init__(...): bound to self, stays inside the MRO
            if attr in ALLOWED_DUNDER_READS or attr in DATA_MODEL_DUNDERS:
                return _call("_getattr_", [node.value, ast.Constant(attr)], node)
            self._underscore_error(node)
            return node
        ctx = self._self_context(node.value)
        if load:
            name = mangle(attr, self.class_names[-1] if self.class_names else None)
            guarded = _call("_getattr_", [node.value, ast.Constant(name)], node)
            if ctx is None:
                return guarded
            return _if_flag(ctx.flag, node, guarded)
        guarded_obj = _call("_write_", [node.value], node.value)
        node.value = guarded_obj if ctx is None else _if_flag(ctx.flag, node.value, guarded_obj)
        return node

    def _self_context(self, value: ast.expr) -> _SelfContext | None:
        """The method context when ``value`` is its never-rebound first parameter."""
        if isinstance(value, ast.Name):
            for ctx in reversed(self.selves):
                if ctx.name == value.id:
                    ctx.used = True
                    return ctx
        return None

    @staticmethod
    def _is_super_call(node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "super"
        )

    def visit_Subscript(self, node: ast.Subscript) -> Visit:
        """Native subscripts: item access reaches nothing attribute names could not."""
        return self.node_contents_visit(node)

    # -- calls, iteration, assignment --------------------------------------
    def visit_Call(self, node: ast.Call) -> Visit:
        """Keep the stock ``exec``/``eval`` refusal; star-args stay native."""
        if isinstance(node.func, ast.Name) and node.func.id in ("exec", "eval"):
            self.error(node, f"{node.func.id.capitalize()} calls are not allowed.")
        return self.node_contents_visit(node)

    def guard_iter(self, node):  # type: ignore[no-untyped-def]
        """Native iteration: there is no per-element policy to enforce."""
        return self.node_contents_visit(node)

    def visit_Assign(self, node: ast.Assign) -> Visit:
        """Native unpacking."""
        return self.node_contents_visit(node)

    def visit_With(self, node: ast.With) -> Visit:
        """Native ``with ... as (a, b)`` unpacking."""
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Visit:
        """``x: int = 1`` and dataclass fields; the target gets the usual checks."""
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Visit:
        """Native unless the statement could grow a sequence or int explosively."""
        explode = self._may_explode(node)
        node = self.node_contents_visit(node)
        if not explode:
            return node
        op = ast.Constant(IOPERATOR_TO_STR[type(node.op)])
        target = node.target
        if isinstance(target, ast.Name):
            value = _call("_inplacevar_", [op, ast.Name(target.id, ast.Load()), node.value], node)
            new: ast.stmt = ast.Assign(targets=[ast.Name(target.id, ast.Store())], value=value)
        elif isinstance(target, ast.Attribute):
            attr = mangle(target.attr, self.class_names[-1] if self.class_names else None)
            args = [target.value, ast.Constant(attr), op, node.value]
            new = ast.Expr(_call("_inplace_attr_", args, node))
        else:
            args = [target.value, _as_load(target.slice), op, node.value]
            new = ast.Expr(_call("_inplace_item_", args, node))
        copy_locations(new, node)
        return new

    @staticmethod
    def _may_explode(node: ast.AugAssign) -> bool:
        """``s += s`` doubles, ``xs *= n`` multiplies, ``x **= y`` squares: check those sizes.

        Plain ``total += x`` grows linearly (the host's deadline bounds it) and
        stays native, because a guard call there costs more than the addition.
        """
        value, op = node.value, node.op
        if isinstance(op, ast.Pow):
            return True
        if isinstance(op, ast.Mult):
            return not (isinstance(value, ast.Constant) and isinstance(value.value, float))
        if isinstance(op, ast.LShift):
            return not isinstance(value, ast.Constant)
        if isinstance(op, ast.Add):
            if isinstance(value, ast.Constant):
                return False
            target = ast.unparse(node.target)
            kind = type(node.target)
            return any(isinstance(sub, kind) and ast.unparse(sub) == target for sub in ast.walk(value))
        return False

    def visit_BinOp(self, node: ast.BinOp) -> Visit:
        """``'a' * n`` / ``[0] * n`` with a literal sequence go through the size-checking ``_mul_``."""
        node = self.node_contents_visit(node)
        if isinstance(node.op, ast.Mult) and (_is_seq_literal(node.left) or _is_seq_literal(node.right)):
            return _call("_mul_", [node.left, node.right], node)
        return node

    # -- scopes -------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef) -> Visit:
        """Data-model dunders are allowed as methods; forbidden hooks never are."""
        in_class = self.scopes[-1] == "class"
        if not (in_class and node.name in DATA_MODEL_DUNDERS):
            self.check_name(node, node.name)
        ctx = self._method_context(node) if in_class else None
        if ctx is not None:
            self.selves.append(ctx)
        self.scopes.append("function")
        try:
            self.check_function_argument_names(node)
            node = self.node_contents_visit(node)
        finally:
            self.scopes.pop()
            if ctx is not None:
                self.selves.pop()
        if ctx is not None and ctx.used:
            _insert_self_check(node, ctx)
        return node

    def _method_context(self, node: ast.FunctionDef) -> _SelfContext | None:
        """Fast ``self._x`` for a method whose first parameter is never rebound in its body.

        The method then starts with ``flag = type(self) in plain_own`` (own
        classes whose whole MRO is the conversation's or clean builtins), and
        each ``self._x`` is native when the flag is set, guarded otherwise.
        """
        params = node.args.posonlyargs + node.args.args
        if not params:
            return None
        name = params[0].arg
        for sub in ast.walk(node):
            if sub is params[0]:
                continue
            if binds_name(sub, name):
                return None
        self._self_count += 1
        return _SelfContext(name, f"_self{self._self_count}_")

    def visit_Lambda(self, node: ast.Lambda) -> Visit:
        self.scopes.append("function")
        try:
            self.check_function_argument_names(node)
            return self.node_contents_visit(node)
        finally:
            self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> Visit:
        """Stock rewrite to ``metaclass=__metaclass__``, keeping other class keywords."""
        self.check_name(node, node.name)
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(k) for k in node.keywords]
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self.scopes.append("class")
        self.class_names.append(node.name)
        try:
            node.body = self._visit_body(node.body)
        finally:
            self.scopes.pop()
            self.class_names.pop()
        if not any(k.arg == "metaclass" for k in node.keywords):
            meta = ast.keyword(arg="metaclass", value=ast.Name("__metaclass__", ast.Load()))
            node.keywords = [meta] + node.keywords
        ast.fix_missing_locations(node)
        return node

    def _visit_body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            new = self.visit(stmt)
            if isinstance(new, list):
                out.extend(new)
            elif new is not None:
                out.append(new)
        return out

    def _comprehension(self, node: ast.AST) -> Visit:
        self.scopes.append("comprehension")
        try:
            return self.node_contents_visit(node)
        finally:
            self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> Visit:
        return self._comprehension(node)

    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp  # type: ignore[assignment]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Visit:
        """``from abc import ABCMeta`` binds natively, so vet each imported value right after."""
        node = cast(ast.ImportFrom, self.check_import_names(node))
        names = [a.asname or a.name for a in node.names if a.name != "*"]
        if not names or node.module == "__future__":
            return node
        vet = ast.Assign(
            targets=[ast.Tuple([ast.Name(n, ast.Store()) for n in names], ast.Store())],
            value=ast.Tuple([_call("_vet_", [ast.Name(n, ast.Load())], node) for n in names], ast.Load()),
        )
        copy_locations(vet, node)
        return [node, vet]

    def visit_Global(self, node: ast.Global) -> Visit:
        """Module-level names follow module rules, wherever ``global`` appears."""
        scopes, self.scopes = self.scopes, ["module"]
        try:
            for name in node.names:
                self.check_name(node, name)
        finally:
            self.scopes = scopes
        return node

    def visit_Nonlocal(self, node: ast.Nonlocal) -> Visit:
        for name in node.names:
            self.check_name(node, name)
        return node


class _SelfContext:
    """A method's first parameter, and the local flag that says it is a plain own instance."""

    def __init__(self, name: str, flag: str) -> None:
        self.name, self.flag, self.used = name, flag, False


def _if_flag(flag: str, fast: ast.expr, guarded: ast.expr) -> ast.IfExp:
    node = ast.IfExp(test=ast.Name(flag, ast.Load()), body=fast, orelse=guarded)
    copy_locations(node, fast)
    return node


def _insert_self_check(node: ast.FunctionDef, ctx: _SelfContext) -> None:
    """``flag = _type_(self) in _plain_own_`` after the docstring."""
    check = ast.Assign(
        targets=[ast.Name(ctx.flag, ast.Store())],
        value=ast.Compare(
            left=ast.Call(func=ast.Name("_type_", ast.Load()), args=[ast.Name(ctx.name, ast.Load())], keywords=[]),
            ops=[ast.In()],
            comparators=[ast.Name("_plain_own_", ast.Load())],
        ),
    )
    copy_locations(check, node.body[0])
    first = node.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
        first.value.value, str)
    node.body.insert(1 if docstring else 0, check)


def _is_seq_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    return isinstance(node, (ast.List, ast.Tuple, ast.ListComp, ast.JoinedStr))
