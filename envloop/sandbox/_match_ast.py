"""``match`` statements: the compile-time half of the class-pattern policy (see ``_match``).

A class pattern with positional sub-patterns reads the attributes named in
``__match_args__`` natively, so the transformer points each such pattern at a
fresh name bound, by a never-matching ``case _ if ...`` inserted just before the
case, to ``_match_class_(C, npos, kw)``: the real class when nothing can go wrong,
else a proxy that vets every name at match time.  Keyword names are checked here
like ``obj.name``; the ones whose safety depends on the object (``format``,
``...Meta``) are turned into positional ones so the proxy sees them too.
"""

from __future__ import annotations

import ast

from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from envloop.sandbox.rules import METACLASS_NAME, RUNTIME_CHECKED_NAMES

Visit = ast.AST | list[ast.AST] | None


class MatchRewrite(RestrictingNodeTransformer):
    """The ``match`` visitors of :class:`~envloop.sandbox.transformer.EnvloopTransformer`."""

    _match_count = 0

    def _reject_attr(self, node: ast.Attribute) -> bool:  # the transformer's attribute checks
        raise NotImplementedError

    def _underscore_error(self, node: ast.Attribute) -> None:
        raise NotImplementedError

    def visit_Match(self, node: ast.Match) -> Visit:
        """Class patterns that read attributes by data go through a vetting proxy (see ``_match``)."""
        node = self.node_contents_visit(node)
        cases: list[ast.match_case] = []
        for case in node.cases:
            binds = [self._proxy_class_pattern(p) for p in ast.walk(case.pattern)
                     if isinstance(p, ast.MatchClass) and _needs_proxy(p)]
            if binds:
                # `case _ if (_mclsN_ := _match_class_(C, ...)) is None:` never matches; it
                # evaluates the class where CPython would, just before the case is tried.
                tests: list[ast.expr] = [
                    ast.Compare(left=b, ops=[ast.Is()], comparators=[ast.Constant(None)]) for b in binds]
                guard = tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.Or(), values=tests)
                dummy = ast.match_case(pattern=ast.MatchAs(pattern=None, name=None), guard=guard,
                                       body=[ast.Pass()])
                for part in (dummy.pattern, dummy.body[0], guard):
                    copy_locations(part, case.pattern)
                cases.append(dummy)
            cases.append(case)
        node.cases = cases
        ast.fix_missing_locations(node)
        return node

    def _proxy_class_pattern(self, pattern: ast.MatchClass) -> ast.NamedExpr:
        """Point ``pattern`` at a fresh name; return the walrus that binds it to the proxy."""
        self._match_count += 1
        name = f"_mcls{self._match_count}_"
        convert = any(_runtime_checked(k) for k in pattern.kwd_attrs)
        kw = tuple(pattern.kwd_attrs) if convert else ()
        kw_names = ast.Constant(kw)  # type: ignore[arg-type]  # a tuple constant is valid
        call = _call_match_class([pattern.cls, ast.Constant(len(pattern.patterns)), kw_names], pattern)
        if convert:
            pattern.patterns = pattern.patterns + pattern.kwd_patterns
            pattern.kwd_attrs, pattern.kwd_patterns = [], []
        pattern.cls = ast.Name(name, ast.Load())
        copy_locations(pattern.cls, pattern)
        walrus = ast.NamedExpr(target=ast.Name(name, ast.Store()), value=call)
        copy_locations(walrus, pattern)
        return walrus

    def visit_match_case(self, node: ast.AST) -> Visit:
        return self.node_contents_visit(node)

    visit_MatchValue = visit_MatchSingleton = visit_match_case
    visit_MatchSequence = visit_MatchOr = visit_match_case

    def visit_MatchAs(self, node: ast.MatchAs) -> Visit:
        self.check_name(node, node.name)
        return self.node_contents_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> Visit:
        self.check_name(node, node.name)
        return self.node_contents_visit(node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> Visit:
        self.check_name(node, node.rest)
        return self.node_contents_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> Visit:
        """Keyword patterns read attributes natively, so their names get the attribute checks."""
        for attr in node.kwd_attrs:
            fake = ast.Attribute(value=ast.Constant(None), attr=attr, ctx=ast.Load())
            copy_locations(fake, node)
            if not self._reject_attr(fake) and attr.startswith("_") and attr != "_":
                self._underscore_error(fake)
        return self.node_contents_visit(node)


def _runtime_checked(attr: str) -> bool:
    """A name whose safety depends on the object it is read from (``format``, ``ABCMeta``)."""
    return attr in RUNTIME_CHECKED_NAMES or bool(METACLASS_NAME.match(attr))


def _needs_proxy(pattern: ast.MatchClass) -> bool:
    """Positional sub-patterns read names from ``__match_args__``; some keywords need the object."""
    return bool(pattern.patterns) or any(_runtime_checked(k) for k in pattern.kwd_attrs)


def _call_match_class(args: list[ast.expr], like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name("_match_class_", ast.Load()), args=args, keywords=[])
    copy_locations(node, like)  # type: ignore[arg-type]
    return node
