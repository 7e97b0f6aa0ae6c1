"""The in-worker Interpreter: REPL semantics, the result dict, names, errors and limits.

These run the Interpreter in-process (no worker), exactly as CONTRACT.md
describes it.  Limits that need the OS (deadline, rlimits) belong to the
worker's tests; here the in-worker caps are checked.
"""

from __future__ import annotations

import json

import pytest

from envloop.sandbox.interpreter import Interpreter


@pytest.fixture
def it() -> Interpreter:
    return Interpreter()


def test_state_persists_between_blocks_like_a_repl(it):
    assert it.run("x = 1")["ok"]
    assert it.run("x + 1")["result"] == "2"
    it.run("def double(n):\n    return 2 * n\nclass Box:\n    def __init__(self, v):\n        self.v = v")
    assert it.run("double(Box(21).v)")["result"] == "42"


def test_result_dict_is_plain_json_data(it):
    result = it.run("print('hi')\n[1, 'two', None]")
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {"ok", "stdout", "result", "error", "limit", "bound", "deleted", "read", "trace"}
    assert result["stdout"] == "hi\n"
    assert result["result"] == "[1, 'two', None]"


def test_trailing_expression_preview_is_its_repr_and_none_is_no_result(it):
    assert it.run("'a' + 'b'")["result"] == "'ab'"
    assert it.run("None")["result"] is None
    assert it.run("print('x')")["result"] is None
    assert it.run("y = 3")["result"] is None


def test_result_preview_is_capped():
    it = Interpreter(result_cap=50)
    result = it.run("list(range(1000))")["result"]
    assert len(result) <= 50 and result.startswith("[0, 1, 2")


def test_repr_returning_a_str_subclass_still_gives_a_plain_str(it):
    out = it.run("class S(str):\n    pass\nclass A:\n    def __repr__(self):\n        return S('custom')\nA()")
    assert out["result"] == "custom" and type(out["result"]) is str


def test_error_reports_type_message_and_line(it):
    out = it.run("a = 1\nb = 2\n1 / 0\nc = 3")
    assert out["ok"] is False
    assert out["error"] == {"type": "ZeroDivisionError", "message": "division by zero", "line": 3,
                            "frames": [{"where": "block", "line": 3, "text": "1 / 0"}]}
    assert it.run("c")["error"]["type"] == "NameError"


def test_error_line_is_inside_the_function_that_raised(it):
    out = it.run("def f():\n    x = 1\n    raise ValueError('bad')\n\nf()")
    assert out["error"] == {"type": "ValueError", "message": "bad", "line": 3, "frames": [
        {"where": "block", "line": 5, "text": "f()"}, {"where": "f", "line": 3, "text": "raise ValueError('bad')"}]}


def test_past_blocks_code_is_let_go_and_a_live_function_keeps_its_lines(it):
    """A long conversation: each block's comprehensions and lambdas were kept for tracebacks, up to
    20,000 code objects (the worker grew ~7 MiB per 1,000 such blocks); only live code is kept now."""
    it.run("def old(x):\n    return 1 / x")
    for i in range(300):
        out = it.run(f"ys = [k + {i} for k in range(3)]\nf = lambda q: q + {i}\nsorted(ys, key=lambda v: -v)")
        assert out["ok"], out["error"]
    assert len(it.sources) < 50
    assert it.run("f(1)")["result"] == "300"
    out = it.run("[old(v) for v in (1, 0)]")
    assert out["error"]["frames"] == [{"where": "block", "line": 1, "text": "[old(v) for v in (1, 0)]"},
                                      {"where": "<listcomp>", "line": 1, "text": "[old(v) for v in (1, 0)]"},
                                      {"where": "old", "line": 2, "text": "return 1 / x"}]


def test_syntax_errors_are_reported_not_raised(it):
    out = it.run("x = (1,\ny = 2")
    assert out["ok"] is False and out["error"]["type"] == "SyntaxError"
    assert isinstance(out["error"]["line"], int)


def test_policy_violation_is_a_syntax_error_with_line(it):
    out = it.run("x = 1\ny = x.__globals__")
    assert out["error"]["type"] == "SyntaxError"
    assert out["error"]["line"] == 2
    assert "__globals__" in out["error"]["message"]


def test_output_before_an_error_is_kept(it):
    out = it.run("print('before')\nraise KeyError('k')")
    assert out["stdout"] == "before\n"
    assert out["error"]["type"] == "KeyError"


# -- names ---------------------------------------------------------------------------


def test_bound_names_cover_every_binding_form(it):
    src = """
import math as m
from collections import Counter
a = 1
b, (c, d) = 2, (3, 4)
e: int = 5
for f in range(2):
    pass
with open_ctx() as g:
    pass
if (h := 7):
    pass
def fn():
    global gl
    gl = 1
fn()
class K:
    inner = 1
try:
    raise ValueError
except ValueError as exc:
    pass
match [1, 2]:
    case [p, *rest]:
        pass
[w for w in range(3) if (ww := w)]
"""
    it.add_function("open_ctx", lambda: __import__("contextlib").nullcontext(0))
    out = it.run(src)
    assert out["ok"], out["error"]
    assert set(out["bound"]) == {"m", "Counter", "a", "b", "c", "d", "e", "f", "g", "h", "fn", "gl", "K",
                                 "p", "rest", "ww"}
    assert "inner" not in out["bound"] and "w" not in out["bound"]
    assert "exc" not in out["bound"]  # Python unbinds except-as names at the end of the handler


def test_deleted_names_and_names_deleted_by_except_as(it):
    it.run("x = 1\ny = 2\nerr = 'old'")
    out = it.run("del x\ntry:\n    1 / 0\nexcept ZeroDivisionError as err:\n    pass")
    assert out["deleted"] == ["err", "x"]
    assert "y" not in out["deleted"]


def test_read_names_existed_before_and_include_function_bodies(it):
    it.run("base = 10\nscale = 2\nunused = 0")
    out = it.run("def f(n):\n    local = n * scale\n    return local\nnew = f(base)\nnew + 1")
    assert out["read"] == ["base", "scale"]
    assert out["bound"] == ["f", "new"]


def test_read_ignores_locals_and_parameters_shadowing_globals(it):
    it.run("n = 1\nlocal = 2")
    out = it.run("def f(n):\n    local = n\n    return local\nf(3)")
    assert out["read"] == []


def test_underscore_names_are_never_reported(it):
    out = it.run("for _ in range(2):\n    pass\nclass A:\n    _count = 0")
    assert out["bound"] == ["A"]


def test_augmented_assignment_reads_and_binds(it):
    it.run("total = 1")
    out = it.run("total += 1")
    assert out["read"] == ["total"] and out["bound"] == ["total"]


def test_own_classes_are_recorded(it):
    it.run("class A:\n    pass\nclass B(A):\n    pass\nimport collections\nP = collections.namedtuple('P', 'x')")
    names = {cls.__name__ for cls in it.own_classes}
    assert {"A", "B"} <= names
    assert all(isinstance(cls, type) for cls in it.own_classes)


def test_add_function_makes_a_trusted_helper_callable(it):
    calls = []
    it.add_function("answer", calls.append)
    assert it.run("answer(42)")["ok"]
    assert calls == [42]


# -- limits --------------------------------------------------------------------------


def test_output_cap_truncates_with_marker_and_stops_the_block():
    it = Interpreter(output_cap=100)
    out = it.run("for i in range(1000):\n    print('line', i)\nprint('never')")
    assert out["limit"] == "output"
    assert out["ok"] is False
    assert out["stdout"].endswith("\n… [output truncated]")
    assert len(out["stdout"]) <= 100 + len("\n… [output truncated]")
    assert "never" not in out["stdout"]


def test_output_cap_cannot_be_outrun_by_catching_base_exception():
    it = Interpreter(output_cap=100)
    src = "n = 0\nfor i in range(10000):\n    try:\n        print('x' * 50)\n    except BaseException:\n        n += 1\nn"
    out = it.run(src)
    assert out["limit"] == "output"
    assert out["result"] == "9999"  # the 2nd print hit the cap; every later one raised again
    assert len(out["stdout"]) <= 100 + len("\n… [output truncated]")


def test_output_cap_resets_for_the_next_block():
    it = Interpreter(output_cap=10)
    it.run("print('x' * 100)")
    out = it.run("print('ok')")
    assert out == {**out, "ok": True, "stdout": "ok\n", "limit": None}


def test_huge_string_repeat_is_refused_before_allocating(it):
    out = it.run("s = 'a' * 10**10")
    assert out["limit"] == "memory"
    assert out["error"]["type"] == "MemoryError"


def test_doubling_in_place_is_refused_before_allocating(it):
    out = it.run("s = 'ab'\nfor i in range(64):\n    s += s")
    assert out["limit"] == "memory"
    out = it.run("xs = [0]\nxs *= 10**10")
    assert out["limit"] == "memory"
    out = it.run("class A:\n    pass\na = A()\na.s = 'x'\nfor i in range(64):\n    a.s += a.s")
    assert out["limit"] == "memory"
    out = it.run("d = {'k': [1]}\nfor i in range(64):\n    d['k'] += d['k']")
    assert out["limit"] == "memory"


def test_memory_error_is_the_memory_limit(it):
    out = it.run("raise MemoryError('simulated')")
    assert out["limit"] == "memory" and out["ok"] is False


@pytest.mark.parametrize("exc", ["SystemExit(3)", "KeyboardInterrupt()", "GeneratorExit()", "BaseException('b')"])
def test_base_exceptions_are_caught_and_the_interpreter_answers_after(it, exc):
    out = it.run(f"raise {exc}")
    assert out["ok"] is False and out["limit"] is None
    assert out["error"]["type"] == exc.split("(")[0]
    assert it.run("1 + 1")["result"] == "2"


def test_recursion_a_few_hundred_deep_works_and_runaway_recursion_is_an_error(it):
    it.run("def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)")
    assert it.run("depth(500)")["result"] == "500"
    out = it.run("depth(10**6)")
    assert out["error"]["type"] == "RecursionError" and out["limit"] is None
    assert it.run("depth(10)")["result"] == "10"


def test_deeply_nested_generator_expressions_in_source_are_refused(it):
    # At run time, a million chained generators overflow the C stack of CPython 3.11
    # itself (plain CPython segfaults too); that case is the worker's "crash" limit.
    src = "g = " + "(a for a in " * 100_000 + "[1]" + ")" * 100_000
    out = it.run(src)
    assert out["ok"] is False and out["error"]["type"] == "SyntaxError"
    assert it.run("1 + 1")["result"] == "2"


def test_source_size_is_capped():
    it = Interpreter(max_source=100)
    out = it.run("x = 1\n" * 50)
    assert out["error"]["type"] == "SyntaxError" and "too long" in out["error"]["message"]


def test_ast_depth_is_capped(it):
    out = it.run("x = " + "(" * 150 + "1" + ")" * 150 + " + " + " + ".join(["1"] * 300))
    assert out["error"]["type"] == "SyntaxError" and "nested too deeply" in out["error"]["message"]
    out = it.run("x = " + "[" * 5000 + "]" * 5000)
    assert out["error"]["type"] == "SyntaxError"
    assert it.run("1 + 1")["result"] == "2"


def test_huge_ranges_are_fine_as_objects(it):
    out = it.run("r = range(10**12)\nlen(r), r[-1]")
    assert out["result"] == "(1000000000000, 999999999999)"


def test_run_never_raises_even_for_non_string_source(it):
    out = it.run(None)  # type: ignore[arg-type]
    assert out["ok"] is False and out["error"]["type"] == "SyntaxError"


def test_blocks_and_their_stored_values_leave_no_reference_cycles_behind():
    """Each stored value's preview used to leave a cycle of closures for the garbage collector: a worker's
    memory grew block after block (0.3 MB over 100 everyday blocks) until a full collection ran."""
    import gc
    import types

    from envloop.sandbox.snapshot import Snapshotter

    it = Interpreter()
    snapshot = Snapshotter(it)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for i in range(20):
            source = f"xs = [k * {i} for k in range(50)]\ncounts = {{'a': {i}, 'b': [1, 2]}}\nprint(len(xs))"
            assert snapshot.collect(source, it.run(source))
        gc.collect()
        ours = [o.__qualname__ for o in gc.garbage
                if type(o) is types.FunctionType and (o.__module__ or "").startswith("envloop")]
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
    assert ours == []

