"""The smolagents peer suite (bench/peer_smolagents.py): its program finder, and the suite itself.

The suite reads smolagents' ``tests/test_local_python_executor.py`` from a clone at run time
(``$SMOLAGENTS_SRC``, else the local mirror) and runs every program that file executes in the
sandbox and in CPython.  No program may be *wrong*: each one either gives what CPython gives or
is a deliberate security refusal.  Without a clone the suite is skipped; the finder is still
tested on a small test file written here.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "peer_smolagents.py"


@pytest.fixture(scope="module")
def peer():
    spec = importlib.util.spec_from_file_location("peer_smolagents", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


# A made-up test file using each way smolagents' tests hand code to the executor.
_FAKE_TESTS = '''
import ast
from textwrap import dedent

import pandas as pd
import pytest

from smolagents.default_tools import BASE_PYTHON_TOOLS, FinalAnswerTool
from smolagents.local_python_executor import (
    LIMITS, LocalPythonExecutor, evaluate_condition, evaluate_python_code,
)


def double(n):
    return 2 * n


class TestFake:
    def test_plain_and_state(self):
        code = "y = double(x)"
        evaluate_python_code(code, {"double": double}, state={"x": 4})
        evaluate_python_code("z = 1", BASE_PYTHON_TOOLS, {}, {"w": pd.Series([1])})

    @pytest.mark.parametrize("op, expected", [("+=", 3), ("-=", -1)])
    def test_format(self, op, expected):
        names = {"+=": "iadd", "-=": "isub"}
        code = dedent("""\\
            x = 1
            x {op} 2  # {name}
        """).format(op=op, name=names[op])
        evaluate_python_code(code, {}, state={})

    @pytest.mark.parametrize("limit", LIMITS)
    def test_library_table(self, limit):
        module, attr = limit.rsplit(".", 1)
        if module == "skip":
            pytest.skip("not this one")
        executor = LocalPythonExecutor([module])
        executor(f"import {module}; {attr}")

    @pytest.mark.parametrize("flag", [True, False])
    def test_local_class(self, flag):
        if flag:
            class Box:
                size = 2
        else:
            class Box:
                size = 3
        evaluate_python_code("box.size", {}, state={"box": Box()})

    @pytest.mark.parametrize("a", [1, 0])
    @pytest.mark.parametrize("b", [2])
    def test_nodes(self, a, b):
        node = ast.parse("a < b", mode="eval").body
        evaluate_condition(node, {"a": a, "b": b}, {}, {}, [])

    def test_executor_tools(self):
        executor = LocalPythonExecutor([])
        executor("final_answer(1)")
        executor.send_tools({"final_answer": FinalAnswerTool()})
        executor("final_answer(2)")

    def test_tool_wrappers(self):
        evaluate_python_code("str(3)", {"str": lambda x: str(x)}, state={})
        evaluate_python_code("final_answer(2)", {"final_answer": lambda answer: answer * 3}, state={})
'''

_FAKE_LIBRARY = 'LIMITS = ["math.floor", "skip.me", "json.dumps"]\n'


def test_the_finder_follows_states_tables_formats_and_executors(peer):
    found, skipped = peer.programs(_FAKE_TESTS, _FAKE_LIBRARY)
    by_test: dict[str, list[str]] = {}
    for program in found:
        by_test.setdefault(program.where, []).append(program.source)

    plain = by_test["TestFake::test_plain_and_state"]
    assert plain[0] == "def double(n):\n    return 2 * n\nx = 4\ny = double(x)"
    assert plain[1] == "import pandas as pd\nw = pd.Series([1])\nz = 1"
    assert by_test["TestFake::test_format[0]"] == ["x = 1\nx += 2  # iadd\n"]
    assert by_test["TestFake::test_format[1]"] == ["x = 1\nx -= 2  # isub\n"]
    # Rows of a table imported from the executor module; a skipped row runs nothing.
    assert by_test["TestFake::test_library_table[0]"] == ["import math; floor"]
    assert "TestFake::test_library_table[1]" not in by_test
    assert by_test["TestFake::test_library_table[2]"] == ["import json; dumps"]
    # The class defined on the branch the case takes.
    assert by_test["TestFake::test_local_class[0]"] == ["class Box:\n    size = 2\nbox = Box()\nbox.size"]
    assert by_test["TestFake::test_local_class[1]"] == ["class Box:\n    size = 3\nbox = Box()\nbox.size"]
    # Stacked parametrize decorators: every combination.
    assert sorted(src for where, srcs in by_test.items() if "test_nodes" in where for src in srcs) == [
        "a = 0\nb = 2\na < b", "a = 1\nb = 2\na < b"]
    before, after = by_test["TestFake::test_executor_tools"]
    assert before == "final_answer(1)"  # no tool yet: a NameError in both runs
    assert after.startswith("class FinalAnswerException(BaseException):") and after.endswith("final_answer(2)")
    wrapped, final = by_test["TestFake::test_tool_wrappers"]
    assert wrapped == "str(3)"  # a lambda around the builtin of the same name: the builtin
    assert "raise FinalAnswerException((lambda answer: answer * 3)(*args, **kwargs))" in final
    assert skipped == []


def test_same_text_ignores_only_the_order_of_set_items(peer):
    assert peer.same_text("s {'b', 'a'}\nn 1\n", "s {'a', 'b'}\nn 1\n")
    assert peer.same_text("{3, 1}", "{1, 3}")
    assert not peer.same_text("s {'b', 'a'}\n", "s {'a', 'c'}\n")
    assert not peer.same_text("[2, 1]", "[1, 2]")
    assert not peer.same_text("t {'b', 'a'}\n", "s {'a', 'b'}\n")


def test_deliberate_refusals_are_security_refusals_only(peer):
    refused = peer.Outcome
    assert peer.deliberate(refused("", None, "ImportError", "module 'os' is not allowed in the sandbox; allowed: ..."))
    assert peer.deliberate(refused("", None, "SyntaxError", '"__class__" is an invalid attribute name because ...'))
    assert peer.deliberate(refused("", None, "NameError", "name 'eval' is not defined"))
    # Not security: a private (non-dunder) name refused, a feature the sandbox lacks, a missing attribute.
    assert not peer.deliberate(refused("", None, "SyntaxError", '"_cache" is an invalid variable name because ...'))
    assert not peer.deliberate(refused("", None, "SyntaxError", "except* is not supported in the sandbox"))
    assert not peer.deliberate(refused("", None, "AttributeError", "module 'time' has no attribute 'x'"))
    assert not peer.deliberate(refused("", None, "NameError", "name 'add_two' is not defined"))


def test_every_program_of_smolagents_executor_tests_is_same_or_deliberately_refused(peer):
    try:
        peer.read_clone(None)
    except FileNotFoundError as exc:
        pytest.skip(f"no smolagents clone (set SMOLAGENTS_SRC to a clone or its git directory): {exc}")
    report = peer.run_suite(None)
    wrong = [(program.where, program.source, report.verdicts[program.source][1:])
             for program in report.programs if report.verdicts[program.source][0] == "wrong"]
    assert not wrong, "\n\n".join(f"{where}\n{textwrap.indent(source, '    ')}\n    sandbox: {ours}\n"
                                  f"    CPython: {theirs}" for where, source, (ours, theirs) in wrong)
    # The issue counted 311 snippets; the finder must not lose the parametrized and built ones.
    assert len(report.programs) >= 311, report.summary()
