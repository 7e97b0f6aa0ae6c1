"""Historical RestrictedPython escapes and the obvious next attempts, run through the policy.

Every payload tries to reach something the sandbox must never reach (a frame, a
function's globals, ``object.__subclasses__``, ``os``/``sys`` through an allowed
module, a string evaluated outside the policy, a host secret).  If it got there
it would print ``ESCAPED``.  Each must come back as an error, print no marker and
no canary, and leave the interpreter answering ``1 + 1`` with ``2``.

Sources: GHSA-wqc8-x2pr-7jqh / CVE-2023-37271 (generator frames),
CVE-2023-41039 (str.format / format_map), CVE-2024-47532 (AttributeError.obj and
the string module), GHSA-hp3v-5vw7-fx9w (string.Formatter.get_field),
CVE-2025-22153 (``try/except*``), the positional-only guard-shadowing fix of
RestrictedPython 8.3, plus gadgets of allowed modules (``re.enum.sys``,
``json.codecs.sys``, ``datetime.sys``, ``typing.get_type_hints``,
``functools.singledispatch``, ``functools.wraps`` with chosen names).
"""

from __future__ import annotations

import pytest

CANARY = "canary-7c1e0b5d"

GEN = "def gen():\n    yield 1\ng = gen()\nnext(g)\n"
FUNC = "def f():\n    return 1\n"

PAYLOADS: dict[str, str] = {
    # --- generator / coroutine frames (CVE-2023-37271)
    "genexp_frame_walk": "g = (x for x in [1])\nprint('ESCAPED', g.gi_frame.f_back.f_globals)",
    "generator_function_frame_walk": GEN + "print('ESCAPED', g.gi_frame.f_back.f_back.f_globals)",
    "generator_frame_builtins": GEN + "print('ESCAPED', g.gi_frame.f_builtins['open'])",
    "generator_code": GEN + "print('ESCAPED', g.gi_code)",
    "generator_frame_via_getattr": GEN + "fr = getattr(g, 'gi_' + 'frame')\nprint('ESCAPED', fr)",
    "generator_frame_via_match_keyword": GEN
    + "match g:\n    case object(gi_frame=fr):\n        print('ESCAPED', fr)",
    "coroutine_frame": "async def c():\n    pass\nprint('ESCAPED', c().cr_frame)",
    "traceback_frame": "try:\n    1 / 0\nexcept Exception as e:\n    print('ESCAPED', e.__traceback__.tb_frame)",
    "traceback_frame_via_getattr": "try:\n    1 / 0\nexcept Exception as e:\n"
    "    tb = getattr(e, '__trace' + 'back__')\n    print('ESCAPED', tb)",
    # --- str.format / format_map / string.Formatter (CVE-2023-41039, GHSA-hp3v-5vw7-fx9w)
    "format_dunder_class": "print('ESCAPED', '{0.__class__.__base__.__subclasses__}'.format(0))",
    "format_generator_frame": GEN + "print('ESCAPED', '{0.gi_frame.f_back}'.format(g))",
    "format_function_globals": FUNC + "print('ESCAPED', '{x.__globals__}'.format(x=f))",
    "format_map_function_globals": FUNC + "print('ESCAPED', '{x.__globals__}'.format_map({'x': f}))",
    "format_bound_then_called": FUNC + "fmt = '{0.__globals__}'.format\nprint('ESCAPED', fmt(f))",
    "format_via_str_class": FUNC + "print('ESCAPED', str.format('{0.__globals__}', f))",
    "format_via_getattr": FUNC + "print('ESCAPED', getattr('{0.__globals__}', 'format')(f))",
    "format_library_private_attribute": "import random\nprint('ESCAPED', '{0._randbelow}'.format(random.Random(1)))",
    "format_own_instance_method_globals": "class A:\n    def m(self):\n        pass\n"
    "print('ESCAPED', '{0.m.__globals__[__builtins__]}'.format(A()))",
    "format_spec_nested_walk": FUNC + "print('ESCAPED', '{0:{1.__globals__}}'.format(1, f))",
    "string_formatter_format": "import string\n" + FUNC
    + "print('ESCAPED', string.Formatter().format('{0.__globals__}', f))",
    "string_formatter_vformat": "import string\n" + FUNC
    + "print('ESCAPED', string.Formatter().vformat('{0.__globals__[__builtins__]}', [f], {}))",
    "string_formatter_get_field": "import string\n" + FUNC
    + "obj, _ = string.Formatter().get_field('0.__globals__', [f], {})\nprint('ESCAPED', obj)",
    "string_formatter_subclass": "import string\n" + FUNC
    + "class F(string.Formatter):\n    pass\nprint('ESCAPED', F().get_field('0.__globals__', [f], {}))",
    "string_formatter_super_bypass": "import string\n" + FUNC
    + "fmt = string.Formatter()\nprint('ESCAPED', super(string.Formatter, fmt).get_field('0.__globals__', [f], {}))",
    "string_formatter_generator_frame": "import string\n" + GEN
    + "print('ESCAPED', string.Formatter().format('{0.gi_frame}', g))",
    # --- AttributeError.obj (CVE-2024-47532)
    "attributeerror_obj_is_no_module": "import string\ntry:\n    string.nope\nexcept AttributeError as e:\n"
    "    m = e.obj\nprint('ESCAPED', m.sys)",
    "attributeerror_obj_formatter": "import string\ntry:\n    string.nope\nexcept AttributeError as e:\n"
    "    m = e.obj\n" + FUNC + "print('ESCAPED', m.Formatter().get_field('0.__globals__', [f], {}))",
    "attributeerror_obj_module_type": "import re\ntry:\n    re.nope\nexcept AttributeError as e:\n"
    "    t = type(e.obj)\nassert t.__name__ != 'module'\nprint('ESCAPED', t.__dict__)",
    # --- except* (CVE-2025-22153)
    "except_star": "try:\n    raise ExceptionGroup('g', [ValueError(1)])\nexcept* ValueError as eg:\n"
    "    print('ESCAPED', eg)",
    # --- guard shadowing through parameters (RestrictedPython 8.3)
    "posonly_shadows_getattr": "def f(_getattr_, /):\n    return (1).real\nprint('ESCAPED', f(getattr))",
    "posonly_shadows_print": "def f(_print_, /):\n    print('x')\nf(1)\nprint('ESCAPED')",
    "posonly_shadows_getitem": "def f(_getitem_, /, x):\n    return x[0]\nprint('ESCAPED', f(1, [1]))",
    "lambda_posonly_shadow": "h = lambda _write_, /: 1\nprint('ESCAPED', h(1))",
    "kwonly_shadow": "def f(*, _getiter_=iter):\n    return 1\nprint('ESCAPED', f())",
    "assign_shadow_guard": "_getattr_ = getattr\nprint('ESCAPED')",
    "walrus_shadow_guard": "print('ESCAPED', (_getattr_ := getattr))",
    # --- computed attribute names
    "getattr_dunder_globals": FUNC + "print('ESCAPED', getattr(f, '__' + 'globals__'))",
    "getattr_dunder_code": FUNC + "print('ESCAPED', getattr(f, '__code__'))",
    "getattr_over_dir": FUNC + "print('ESCAPED', [getattr(f, n) for n in dir(f) if 'glob' in n])",
    "vars_of_function": FUNC + "print('ESCAPED', vars(f))",
    "vars_no_args": "print('ESCAPED', vars()['__builtins__'])",
    "setattr_dunder": FUNC + "setattr(f, '__code__', None)\nprint('ESCAPED')",
    "delattr_dunder": "class A:\n    pass\ndelattr(A, '__init__')\nprint('ESCAPED')",
    "hasattr_probe_then_getattr": FUNC + "if hasattr(f, '__globals__'):\n"
    "    print('ESCAPED', getattr(f, '__globals__'))\nelse:\n    raise RuntimeError('blocked')",
    # --- object.__subclasses__ and friends
    "tuple_class_base_subclasses": "print('ESCAPED', ().__class__.__base__.__subclasses__())",
    "object_subclasses": "print('ESCAPED', object.__subclasses__())",
    "type_of_tuple_base": "print('ESCAPED', type(()).__base__.__subclasses__())",
    "type_mro_subclasses": "base = type(()).mro()[-1]\nprint('ESCAPED', base.__subclasses__())",
    "type_subclasses_getattr": "base = type(()).mro()[-1]\nprint('ESCAPED', getattr(base, '__subclasses__')())",
    "catch_warnings_classic": "print('ESCAPED', [c for c in ().__class__.__mro__[1].__subclasses__()"
    " if c.__name__ == 'catch_warnings'][0]()._module.__builtins__)",
    "builtins_name": "print('ESCAPED', __builtins__)",
    "build_class_name": "print('ESCAPED', __build_class__)",
    "type_three_args": "T = type('T', (object,), {'__getattribute__': lambda s, n: n})\nprint('ESCAPED', T)",
    "type_of_type_three_args": "meta = type(type(1))\nT = meta('T', (), {})\nprint('ESCAPED', T)",
    "metaclass_three_args": "import abc\nX = type(abc.ABC)('X', (), {'__getattr__': lambda s, n: n})\n"
    "print('ESCAPED', X().anything)",
    "abcmeta_three_args": "import abc\nX = abc.ABCMeta('X', (), {'__del__': print})\nprint('ESCAPED', X)",
    "class_getattribute_hook": "class A:\n    def __getattribute__(self, n):\n        return n\nprint('ESCAPED')",
    "class_init_subclass_hook": "class A:\n    def __init_subclass__(cls):\n        pass\nprint('ESCAPED')",
    "class_reduce_hook": "class A:\n    def __reduce__(self):\n        return (print, ('x',))\nprint('ESCAPED')",
    "class_del_hook": "class A:\n    def __del__(self):\n        pass\nprint('ESCAPED')",
    "super_getattribute": "print('ESCAPED', super(type, type).__getattribute__)",
    # --- forbidden builtins
    "exec": "exec('import os')\nprint('ESCAPED')",
    "eval": "print('ESCAPED', eval('1 + 1'))",
    "compile": "print('ESCAPED', compile('1', 'x', 'eval'))",
    "open": "print('ESCAPED', open('/etc/hostname').read())",
    "dunder_import": "print('ESCAPED', __import__('os'))",
    "input": "print('ESCAPED', input())",
    "breakpoint": "breakpoint()\nprint('ESCAPED')",
    "globals": "print('ESCAPED', globals()['__builtins__'])",
    "locals": "print('ESCAPED', locals())",
    "memoryview_obj_walk": "m = memoryview(b'ab')\nprint('ESCAPED', m.obj.__class__.__base__)",
    "help": "help(print)\nprint('ESCAPED')",
    # --- imports and module gadgets
    "import_os": "import os\nprint('ESCAPED', os.environ.get('ENVLOOP_TEST_CANARY'))",
    "import_sys": "import sys\nprint('ESCAPED', sys.modules)",
    "from_os_import": "from os import system\nprint('ESCAPED', system)",
    "import_os_path": "import os.path\nprint('ESCAPED', os.path)",
    "import_builtins": "import builtins\nprint('ESCAPED', builtins.open)",
    "import_importlib": "import importlib\nprint('ESCAPED', importlib.import_module('os'))",
    "import_operator": "import operator\nprint('ESCAPED', operator.attrgetter('__globals__'))",
    "import_inspect": "import inspect\nprint('ESCAPED', inspect.currentframe())",
    "import_gc": "import gc\nprint('ESCAPED', gc.get_objects())",
    "import_pickle": "import pickle\nprint('ESCAPED', pickle.loads)",
    "import_ctypes": "import ctypes\nprint('ESCAPED', ctypes.CDLL)",
    "import_subprocess": "import subprocess\nprint('ESCAPED', subprocess.run)",
    "import_types": "import types\nprint('ESCAPED', types.FunctionType)",
    "import_threading": "import threading\nprint('ESCAPED', threading.Thread)",
    "import_timeit": "import timeit\nprint('ESCAPED', timeit.timeit)",
    "import_logging": "import logging\nprint('ESCAPED', logging.Logger.manager)",
    "relative_import": "from . import os\nprint('ESCAPED', os)",
    "import_private_name": "from re import _compiler\nprint('ESCAPED', _compiler)",
    "re_enum_sys": "import re\nprint('ESCAPED', re.enum.sys)",
    "re_functools": "import re\nprint('ESCAPED', re.functools)",
    "re_getattr_enum": "import re\nprint('ESCAPED', getattr(re, 'enum'))",
    "re_flag_class_module": "import re\nprint('ESCAPED', type(re.I).__module__, re.RegexFlag.sys)",
    "json_codecs_sys": "import json\nprint('ESCAPED', json.codecs.sys)",
    "json_decoder_module": "import json\nprint('ESCAPED', json.decoder.scanstring)",
    "import_json_decoder": "import json.decoder\nprint('ESCAPED', json.decoder)",
    # IMPORT_FROM falls back to sys.modules[f"{pkg.__name__}.{name}"] when the attribute is missing
    "from_json_import_decoder": "from json import decoder\nprint('ESCAPED', decoder.re.enum.sys)",
    "from_re_import_enum": "from re import enum\nprint('ESCAPED', enum.sys)",
    "from_collections_import_submodule": "from collections import abc, defaultdict\n"
    "from encodings import utf_8\nprint('ESCAPED', utf_8)",
    "from_xml_import_dom": "from xml import dom\nprint('ESCAPED', dom)",
    "datetime_sys": "import datetime\nprint('ESCAPED', datetime.sys.modules)",
    "typing_sys": "import typing\nprint('ESCAPED', typing.sys)",
    "typing_get_type_hints_eval": "import typing\n"
    "def f(x: \"().__class__.__base__.__subclasses__()\"):\n    pass\n"
    "print('ESCAPED', typing.get_type_hints(f))",
    "typing_forwardref_evaluate": "import typing\nr = typing.ForwardRef('1')\nprint('ESCAPED', r._evaluate({}, {}, frozenset()))",
    "typing_forwardref_via_args": "import typing\nref = typing.get_args(typing.List['x'])[0]\n"
    "print('ESCAPED', ref._evaluate(None, None, frozenset()))",
    "functools_singledispatch_annotations": "import functools\n"
    "@functools.singledispatch\ndef f(x):\n    return 0\n"
    "@f.register\ndef _(x: \"().__class__\"):\n    return 1\nprint('ESCAPED', f.registry)",
    "functools_wraps_chosen_names": GEN + "import functools\nclass Box:\n    pass\n"
    "b = functools.wraps(g, assigned=('gi_frame',), updated=())(Box())\nprint('ESCAPED', vars(b))",
    "functools_update_wrapper_dataclass_match": GEN + "import functools, dataclasses\n"
    "@dataclasses.dataclass\nclass D:\n    gi_frame: int = 0\nd = D()\n"
    "functools.update_wrapper(d, g, assigned=('gi_frame',), updated=())\n"
    "match d:\n    case D(fr):\n        print('ESCAPED', fr)",
    "dataclasses_sys": "import dataclasses\nprint('ESCAPED', dataclasses.sys)",
    "dataclasses_make_dataclass": "import dataclasses\n"
    "D = dataclasses.make_dataclass('D', ['a'], namespace={'__getattr__': print})\nprint('ESCAPED', D)",
    "enum_bltns": "import enum\nprint('ESCAPED', enum.bltns.open)",
    "collections_abc_sys": "import collections.abc\nprint('ESCAPED', collections.abc.sys)",
    "calendar_sys": "import calendar\nprint('ESCAPED', calendar.sys)",
    "uuid_os": "import uuid\nprint('ESCAPED', uuid.os.environ)",
    "hashlib_new_any": "import hashlib\nprint('ESCAPED', hashlib.new('ripemd160'))",
    "module_facade_write": "import math\nmath.pi = 3\nprint('ESCAPED', math.pi)",
    "module_dict": "import math\nprint('ESCAPED', math.__dict__)",
    "module_spec_loader": "import json\nprint('ESCAPED', json.__spec__.loader)",
    "function_globals_direct": FUNC + "print('ESCAPED', f.__globals__['__builtins__'])",
    "lambda_closure_cells": "x = 1\nh = lambda: x\nprint('ESCAPED', h.__closure__)",
    "exception_context_frames": "try:\n    1/0\nexcept Exception as e:\n    print('ESCAPED', e.__context__, e.__traceback__)",
}

# --- issue 13: class patterns read the names in __match_args__ natively (E1), dataclasses
# compile source from annotation keys and Field.name (E2), and the other format routes.
ABC_FIELD = "import abc, dataclasses\n@dataclasses.dataclass\nclass G(abc.ABC):\n    {field}: int = 0\n"
PAYLOADS.update({
    "match_positional_dataclass_abc_gi_frame": GEN + ABC_FIELD.format(field="gi_frame")
    + "G.register(type(g))\nmatch g:\n    case G(fr):\n        print('ESCAPED', fr.f_back)",
    "match_positional_nested_in_sequence": GEN + ABC_FIELD.format(field="gi_frame")
    + "G.register(type(g))\nmatch [1, g]:\n    case [1, G(fr)]:\n        print('ESCAPED', fr)",
    "match_positional_in_function": GEN + ABC_FIELD.format(field="gi_frame")
    + "G.register(type(g))\ndef h(x):\n    match x:\n        case G(fr):\n            return fr\n"
    "print('ESCAPED', h(g))",
    "match_positional_namedtuple_abc": GEN + "import abc, collections\n"
    "class G(collections.namedtuple('G0', ['gi_frame']), abc.ABC):\n    pass\n"
    "G.register(type(g))\nmatch g:\n    case G(fr):\n        print('ESCAPED', fr)",
    "match_positional_typing_namedtuple_abc": GEN + "import abc, typing\n"
    "class N(typing.NamedTuple):\n    gi_frame: int\nclass G(N, abc.ABC):\n    pass\n"
    "G.register(type(g))\nmatch g:\n    case G(fr):\n        print('ESCAPED', fr)",
    "match_positional_exit_traceback": ABC_FIELD.format(field="tb_frame")
    + "class CM:\n    def __enter__(self):\n        return self\n"
    "    def __exit__(self, t, v, tb):\n        G.register(type(tb))\n        match tb:\n"
    "            case G(fr):\n                print('ESCAPED', fr)\n        return False\n"
    "with CM():\n    1 / 0",
    "match_class_body_match_args": GEN + "import abc\nclass G(abc.ABC):\n    __match_args__ = ('gi_frame',)\n"
    "G.register(type(g))\nmatch g:\n    case G(fr):\n        print('ESCAPED', fr)",
    "match_positional_code_object": FUNC + "import abc, dataclasses\n@dataclasses.dataclass\n"
    "class C(abc.ABC):\n    gi_code: int = 0\nC.register(type(f))\nmatch f:\n    case C(c):\n"
    "        print('ESCAPED', c)",
    "match_keyword_format": FUNC + "match '{0.__globals__[__builtins__]}':\n    case str(format=fmt):\n"
    "        print('ESCAPED', fmt(f))",
    "match_positional_format": FUNC + ABC_FIELD.format(field="format") + "G.register(str)\n"
    "match '{0.__globals__}':\n    case G(fmt):\n        print('ESCAPED', fmt(f))",
    "match_keyword_metaclass": "import abc\nmatch abc:\n    case object(ABCMeta=m):\n"
    "        print('ESCAPED', m('X', (), {'__getattr__': print}))",
    "match_positional_private_library": "import abc, random, dataclasses\n@dataclasses.dataclass\n"
    "class R(abc.ABC):\n    _randbelow: int = 0\nR.register(random.Random)\n"
    "match random.Random(1):\n    case R(rb):\n        print('ESCAPED', rb)",
    "dataclass_annotation_injection": "import dataclasses\nclass A:\n    pass\n"
    "N = \"a=print('ESCAPED'),*\"\nA.__annotations__[N] = int\n"
    "setattr(A, N, dataclasses.field(init=False))\ndataclasses.dataclass(A)\n"
    "if not A.__dataclass_fields__:\n    raise RuntimeError('no field')",
    "dataclass_field_name_injection": "import dataclasses\n@dataclasses.dataclass\nclass A:\n    x: int = 1\n"
    "dataclasses.fields(A)[0].name = \"x=print('ESCAPED')\"\n@dataclasses.dataclass\nclass B(A):\n"
    "    y: int = 2\nB()",
    "dataclass_decorator_form_field_name": "from dataclasses import dataclass, fields\n@dataclass\nclass A:\n"
    "    x: int = 1\nfields(A)[0].name = \"x=print('ESCAPED')\"\n@dataclass(frozen=True)\nclass B(A):\n"
    "    pass\nB()",
    "string_formatter_get_field_format": "import string\n" + FUNC
    + "obj, _ = string.Formatter().get_field('0.format', ['{0.__globals__}'], {})\nprint('ESCAPED', obj(f))",
    "string_formatter_field_format_map": "import string\n" + FUNC
    + "m, _ = string.Formatter().get_field('0.format_map', ['{x.__globals__}'], {})\n"
    "print('ESCAPED', m({'x': f}))",
    "userstring_format": "import collections\n" + FUNC
    + "print('ESCAPED', collections.UserString('{0.__globals__}').format(f))",
    "userstring_format_map": "import collections\n" + FUNC
    + "print('ESCAPED', collections.UserString('{x.__globals__}').format_map({'x': f}))",
    "userstring_format_unbound_via_mro": "import collections\n" + FUNC
    + "class U(collections.UserString):\n    pass\nprint('ESCAPED', U.__mro__[1].format(U('{0.__globals__}'), f))",
    "userstring_format_super": "import collections\n" + FUNC
    + "class U(collections.UserString):\n    def g(self, x):\n        return super().format(x)\n"
    "print('ESCAPED', U('{0.__globals__}').g(f))",
    "mro_hands_out_no_real_metaclass": "import abc\nprint('ESCAPED', type(abc.ABC).__mro__[0]('X', (), {}))",
    "get_type_hints_nested_forward_ref": "import typing\n"
    "def f(x: typing.List['().__class__.__base__.__subclasses__()']):\n    pass\n"
    "print('ESCAPED', typing.get_type_hints(f))",
    "get_type_hints_builtin_generic_forward_ref": "import typing\n"
    "def f(x: list['__import__(\"os\")']):\n    pass\nprint('ESCAPED', typing.get_type_hints(f))",
    "get_type_hints_class_forward_ref": "import typing\nclass A:\n    x: 'open(\"/etc/hostname\").read()'\n"
    "print('ESCAPED', typing.get_type_hints(A))",
    "get_type_hints_own_builtins": "import typing\ndef g(o, n):\n    return 'ESCAPED'\n"
    "def f(x: 'f.__class__'):\n    pass\n"
    "h = typing.get_type_hints(f, globalns={'__builtins__': {'_getattr_': g}, 'f': f})\nprint(h['x'])\n"
    "raise RuntimeError('the guards stayed the sandbox ones')",
    "make_dataclass_getattribute_namespace": "import dataclasses\n"
    "D = dataclasses.make_dataclass('D', ['a'], namespace={'__getattribute__': print})\nprint('ESCAPED', D)",
    "make_dataclass_injected_field": "import dataclasses\n"
    "D = dataclasses.make_dataclass('D', [(\"a=print('ESCAPED'),*\", int)])\nD()",
    "make_dataclass_metaclass_base": "import dataclasses, abc\n"
    "D = dataclasses.make_dataclass('D', ['a'], bases=(type(abc.ABC),))\nprint('ESCAPED', D)",
    "redirect_stdout_target_is_sandbox_data": "import contextlib\nclass W:\n    def write(self, s):\n"
    "        raise ValueError('blocked ' + s)\nwith contextlib.redirect_stdout(W()):\n    print('x')\n"
    "print('ESCAPED')",
    "wrapped_is_no_module_walk": "import functools\n" + FUNC
    + "@functools.wraps(f)\ndef w():\n    pass\nprint('ESCAPED', w.__wrapped__.__globals__)",
})


@pytest.fixture(scope="module")
def interpreter_class():
    module = pytest.importorskip("envloop.sandbox.interpreter")
    return module.Interpreter


@pytest.fixture
def interp(interpreter_class, monkeypatch):
    monkeypatch.setenv("ENVLOOP_TEST_CANARY", CANARY)
    return interpreter_class()


def _leaked(result: dict) -> bool:
    text = repr(result)
    return "ESCAPED" in (result.get("stdout") or "") or CANARY in text


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payload_fails_and_the_interpreter_stays_usable(interp, name):
    result = interp.run(PAYLOADS[name])
    assert not _leaked(result), f"{name} escaped: {result}"
    assert result["ok"] is False and result["error"] is not None, f"{name} did not fail: {result}"
    assert result["error"]["type"] and result["error"]["message"]
    after = interp.run("1 + 1")
    assert after["ok"] and after["result"] == "2", after


def test_attribute_error_obj_on_an_allowed_module_is_a_facade(interp):
    result = interp.run(
        "import string\ntry:\n    string.nope\nexcept AttributeError as e:\n    m = e.obj\n"
        "print(type(m).__name__, m.ascii_lowercase[:3])"
    )
    assert result["ok"], result
    name, letters = result["stdout"].split()
    assert name != "module" and letters == "abc"


def test_string_formatter_still_formats(interp):
    result = interp.run(
        "import string\nprint(string.Formatter().format('{0:>4}|{x!r}|{0.real}', 7, x='y'))\n"
        "print('{:.2f} {name}'.format(3.14159, name='pi'), '{a[0]}'.format_map({'a': [5]}))"
    )
    assert result["ok"], result
    assert result["stdout"] == "   7|'y'|7\n3.14 pi 5\n"


def test_canary_is_in_the_host_environment_for_these_tests(interp):
    """Guard against a vacuous pass: the secret the payloads look for does exist here."""
    import os

    assert os.environ["ENVLOOP_TEST_CANARY"] == CANARY
