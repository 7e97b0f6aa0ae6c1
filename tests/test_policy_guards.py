"""What the policy refuses, at compile time and at run time, and that refusing leaves things usable.

The historical escapes are exercised end to end by tests/test_escapes.py; these
pin down the policy's own rules one by one.
"""

from __future__ import annotations

import pytest

from envloop.sandbox.interpreter import Interpreter


def _refused(src: str, kind: str | None = None) -> dict:
    it = Interpreter()
    out = it.run(src)
    assert out["ok"] is False, f"accepted: {src!r} -> {out}"
    assert "ESCAPED" not in out["stdout"]
    if kind is not None:
        assert out["error"]["type"] == kind, out["error"]
    assert it.run("1 + 1")["result"] == "2"
    return out


@pytest.mark.parametrize("attr", ["gi_frame", "gi_code", "f_globals", "f_back", "f_builtins", "tb_frame",
                                  "cr_frame", "ag_frame", "co_code", "__globals__", "__subclasses__",
                                  "__bases__", "__code__", "__closure__", "__self__",
                                  "__builtins__", "__getattribute__", "__reduce_ex__", "x__roles__"])
def test_forbidden_attribute_names_are_rejected_at_compile_time(attr):
    _refused(f"y = object().{attr}", "SyntaxError")


@pytest.mark.parametrize("name", ["gi_frame", "f_globals", "__globals__", "__subclasses__", "__code__",
                                  "__traceback__", "__getattribute__", "_randbelow"])
def test_computed_attribute_names_are_refused_at_run_time(name):
    src = f"import random\ndef f():\n    pass\nr = random.Random(1)\nn = {name[:3]!r} + {name[3:]!r}\n"
    src += "for o in (f, r, (x for x in [1]), 1):\n    print('ESCAPED', getattr(o, n))"
    _refused(src, "AttributeError")


def test_getattr_with_a_default_answers_the_default_for_refused_names():
    out = Interpreter().run("def f():\n    pass\ngetattr(f, '__glo' + 'bals__', 'no')")
    assert out["result"] == "'no'"


@pytest.mark.parametrize("hook", ["__getattr__", "__getattribute__", "__setattr__", "__delattr__", "__del__",
                                  "__reduce__", "__reduce_ex__", "__init_subclass__", "__set_name__",
                                  "__class_getitem__", "__get__", "__set__", "__delete__"])
def test_forbidden_hooks_cannot_be_defined_or_assigned(hook):
    _refused(f"class A:\n    def {hook}(self, *a):\n        pass", "SyntaxError")
    _refused(f"def f(*a):\n    pass\nclass A:\n    {hook} = f", "SyntaxError")
    _refused(f"class A:\n    pass\nsetattr(A, {hook!r}, print)", "AttributeError")


def test_private_attributes_of_library_objects_and_modules_are_refused():
    _refused("import random\nprint('ESCAPED', random.Random(1)._randbelow(3))", "AttributeError")
    _refused("import fractions\nf = fractions.Fraction(1, 2)\nf._x = 1", "AttributeError")
    _refused("import json\nprint('ESCAPED', json._default_encoder)")


def test_private_attributes_inherited_from_a_library_base_are_refused():
    src = "import random\nclass R(random.Random):\n    def peek(self):\n        return self._randbelow(5)\n"
    _refused(src + "print('ESCAPED', R(1).peek())", "AttributeError")
    src = "import random\nclass A:\n    def m(self):\n        return self._randbelow(5)\n"
    _refused(src + "class B(A, random.Random):\n    pass\nprint('ESCAPED', B(1).m())", "AttributeError")


def test_own_method_called_with_a_foreign_self_cannot_read_its_privates():
    src = "import random\nclass A:\n    def m(self):\n        return self._randbelow\n"
    _refused(src + "print('ESCAPED', A.m(random.Random(1)))", "AttributeError")


def test_own_private_attributes_still_work_beside_library_bases():
    src = ("import random\nclass R(random.Random):\n    def __init__(self):\n        super().__init__(1)\n"
           "        self._mine = 5\n    def get(self):\n        return self._mine\nR().get()")
    assert Interpreter().run(src)["result"] == "5"


def test_private_names_work_at_module_level_locals_and_class_attributes():
    src = ("_cache = {}\ndef _helper(k):\n    _cache[k] = k * 2\n    return _cache[k]\n"
           "class A:\n    _n = 1\ndef f():\n    _tmp = A._n + 1\n    return _tmp\n(f(), _helper(4), _cache)")
    assert Interpreter().run(src)["result"] == "(2, 8, {4: 8})"


@pytest.mark.parametrize("src", [
    "def f(_getattr_, /):\n    return 1",
    "def f(*, _write_=1):\n    return 1",
    "h = lambda _getiter_, /: 1",
    "_inplacevar_ = 1",
    "def f(_type_):\n    pass",
    "class A:\n    def m(self, _plain_own_):\n        pass",
    "class A:\n    def m(self):\n        _self1_ = True\n        return self._x",
    "for _print_ in range(3):\n    pass",
    "import math as _getattr_",
])
def test_guard_names_cannot_be_shadowed(src):
    _refused(src, "SyntaxError")


def test_except_star_is_refused():
    _refused("try:\n    pass\nexcept* ValueError:\n    pass", "SyntaxError")


def test_exec_and_eval_are_refused():
    _refused("exec('1')", "SyntaxError")
    _refused("eval('1')", "SyntaxError")
    _refused("f = compile", "NameError")
    _refused("open('x')", "NameError")


def test_three_argument_type_and_metaclass_calls_are_refused():
    _refused("X = type('X', (), {})", "TypeError")
    _refused("X = type(type(1))('X', (), {})", "TypeError")
    _refused("X = (1).__class__.__class__('X', (), {})", "TypeError")
    _refused("import abc\nX = type(abc.ABC)('X', (), {})", "TypeError")
    _refused("from abc import ABCMeta\nX = ABCMeta('X', (), {})", "TypeError")
    _refused("class M(type):\n    pass\nclass X(metaclass=M):\n    pass", "TypeError")


def test_type_still_answers_type_questions():
    out = Interpreter().run("import abc\nclass A(abc.ABC):\n    pass\n"
                            "(isinstance(A, type), isinstance(A, abc.ABCMeta), type(A) is abc.ABCMeta, type(1) is int)")
    assert out["result"] == "(True, True, True, True)"


def test_match_class_keywords_are_checked_like_attributes():
    _refused("match 1:\n    case object(gi_frame=f):\n        pass", "SyntaxError")
    _refused("match 1:\n    case object(_secret=f):\n        pass", "SyntaxError")


@pytest.mark.parametrize("src", [
    "def f():\n    pass\nprint('ESCAPED', '{0.__globals__}'.format(f))",
    "def f():\n    pass\nprint('ESCAPED', '{x.__globals__}'.format_map({'x': f}))",
    "def f():\n    pass\nprint('ESCAPED', str.format('{0.__globals__}', f))",
    "def f():\n    pass\nm = '{0.__globals__}'.format\nprint('ESCAPED', m(f))",
    "def f():\n    pass\nprint('ESCAPED', getattr('{0.__code__}', 'format')(f))",
    "import random\nprint('ESCAPED', '{0._randbelow}'.format(random.Random(1)))",
    "g = (x for x in [1])\nprint('ESCAPED', '{0.gi_frame}'.format(g))",
    "def f():\n    pass\nprint('ESCAPED', '{0:{1.__globals__}}'.format(1, f))",
    "class S(str):\n    def go(self, f):\n        return super().format(f)\n"
    "def f():\n    pass\nprint('ESCAPED', S('{0.__globals__}').go(f))",
])
def test_str_format_walks_are_refused(src):
    _refused(src, "AttributeError")


def test_refused_attributes_attach_no_object_to_the_attribute_error():
    src = "def f():\n    pass\ntry:\n    getattr(f, '__globals__')\nexcept AttributeError as e:\n    r = e.obj\nr"
    assert Interpreter().run(src)["result"] is None


def test_dunder_dict_and_vars_only_on_own_instances():
    out = Interpreter().run("class A:\n    def __init__(self):\n        self.x = 1\n(A().__dict__, vars(A()))")
    assert out["result"] == "({'x': 1}, {'x': 1})"
    _refused("import fractions\nprint('ESCAPED', fractions.Fraction(1, 2).__dict__)", "AttributeError")
    _refused("import fractions\nprint('ESCAPED', vars(fractions.Fraction))", "TypeError")
    _refused("print('ESCAPED', vars())", "TypeError")


def test_dunder_writes_are_refused():
    _refused("class A:\n    pass\na = A()\na.__class__ = int", "SyntaxError")
    _refused("class A:\n    pass\nsetattr(A(), '__class__', int)", "AttributeError")
    _refused("class A:\n    pass\nA.__bases__ = (object,)", "SyntaxError")


def test_metaclasses_are_not_reachable_through_dunder_class():
    _refused("import abc\nm = abc.ABC.__class__\nprint('ESCAPED', m('X', (), {'__getattr__': print}))", "TypeError")


def test_a_str_subclass_cannot_trick_the_format_cache():
    src = ("class Liar(str):\n    def __hash__(self):\n        return hash('{}')\n"
           "    def __eq__(self, other):\n        return True\n"
           "'{}'.format(1)\ndef f():\n    pass\nprint('ESCAPED', Liar('{0.__globals__}').format(f))")
    _refused(src, "AttributeError")


def test_hasattr_says_what_exists_and_getattr_still_refuses():
    out = Interpreter().run("def f():\n    pass\n(hasattr(f, '__globals__'), hasattr([], '__len__'), hasattr(1, 'real'),"
                            " hasattr(1, 'nope'))")
    assert out["result"] == "(True, True, True, False)"
    _refused("def f():\n    pass\ngetattr(f, '__globals__')", "AttributeError")


def test_future_imports_still_work():
    out = Interpreter().run("from __future__ import annotations\nfrom __future__ import division\n"
                            "def f(x: Undefined) -> int:\n    return 1\nf(2)")
    assert out["result"] == "1"
