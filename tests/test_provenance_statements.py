"""Statement-level reads: a version read what the statements that made it read, nothing else."""

from __future__ import annotations

from envloop.making import making_statements
from envloop.provenance import version_reads

WITH_TAX = "def with_tax(amount):\n    return round(amount * (1 + tax_rate), 2)"


def test_each_name_reads_only_its_own_statement() -> None:
    assert version_reads("c = a + 1\nd = b + 1", ["c", "d"]) == {"c": {"a": "old"}, "d": {"b": "old"}}


def test_a_read_after_an_earlier_write_in_the_block_sees_the_new_version() -> None:
    reads = version_reads("rate = 0.5\ntotal = f(100)", ["rate", "total"], {"f": "def f(x):\n    return x * rate"})
    assert reads["total"] == {"f": "old", "rate": "new"}  # the value actually used, through f's body
    assert reads["rate"] == {}


def test_the_demo_turn_total_reads_the_new_tax_rate_and_march_never_reads_it() -> None:
    block = 'tax_rate = 0.10\ntotal = with_tax(sum(i["amount"] for i in march))'
    reads = version_reads(block, ["tax_rate", "total"], {"with_tax": WITH_TAX})
    assert reads["total"]["tax_rate"] == "new" and reads["total"]["march"] == "old"
    first = version_reads(WITH_TAX + '\nmarch = [i for i in invoices if i["month"] == "March"]',
                          ["with_tax", "march"])
    assert first == {"with_tax": {}, "march": {"invoices": "old"}}  # a def reads nothing when it runs


def test_global_reads_of_called_functions_are_followed_transitively() -> None:
    sources = {"outer": "def outer():\n    return inner() + base", "inner": "def inner():\n    return k"}
    assert set(version_reads("v = outer()", ["v"], sources)["v"]) >= {"outer", "inner", "base", "k"}


def test_rebinding_reads_the_old_version_and_mutation_through_a_function_is_attributed() -> None:
    assert version_reads("x = x + 1", ["x"]) == {"x": {"x": "old"}}
    adder = "def add(v):\n    items.append(v)\n    return len(items)"
    assert set(version_reads("add(1)\nadd(2)", ["items"], {"add": adder})["items"]) >= {"add", "items"}


def test_definition_time_reads_of_defs_classes_and_lambdas() -> None:
    reads = version_reads("def f(a=d):\n    return g(a) + rate\nh = lambda: late\nclass K(B):\n    n = z",
                          ["f", "h", "K"])
    assert reads == {"f": {"d": "old"}, "h": {}, "K": {"B": "old", "z": "old"}}


def test_making_statements_picks_the_lines_that_wrote_the_name() -> None:
    block = "xs = [3, 1]\nother = 5\nxs.sort()\ndel other"
    assert making_statements(block, "xs") == "xs = [3, 1]\nxs.sort()"
    assert making_statements(block, "other") == "other = 5\ndel other"
    assert making_statements("g()", "items") == "g()"  # changed through a call: the whole block
    assert making_statements("x = (", "x") == "x = ("  # unparsable source is shown as it is


def test_the_demos_why_total_is_exact(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys
    from pathlib import Path

    envloop = str(Path(sys.executable).parent / "envloop")
    db = str(tmp_path / "demo.db")
    env = {"PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(tmp_path), "ENVLOOP_DB": db}
    subprocess.run([envloop, "demo", "--db", db], env=env, capture_output=True, check=True, timeout=300)
    chain = json.loads(subprocess.run([envloop, "why", "total", "--json"], env=env, capture_output=True,
                                      check=True, text=True).stdout)
    reads = {(c["name"], c["version"]): c["reads"] for c in chain}
    # total v2 was computed with the reduced tax_rate (v2) that its own turn set, through with_tax's body
    assert reads[("total", 2)] == ["march v1", "tax_rate v2", "with_tax v1"]
    assert reads[("march", 1)] == ["invoices v1"]  # march never read tax_rate
    assert reads[("with_tax", 1)] == []  # a def reads nothing when it runs


# ------------------------------------------------------------------ run-time trace (issue 15, item 1) ---
# Which of the conversation's functions a statement ran is traced by the worker; each `cli` call below is a
# new process, so the functions the second block calls were restored from the database, and traced too.


def _why(cli, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return cli("why", name, "--json")[0]["reads"]  # type: ignore[no-any-return]


def test_a_function_reached_through_a_dict_or_list_counts_only_what_ran(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "rate = 0.5\nother = 7\ndef add(a, b):\n    return (a + b) * rate\n"
        "def sub(a, b):\n    return a - b - other\nops = {'add': add}\nfs = [add, sub]")
    cli("run", "total = ops['add'](1, 2)\nr = fs[0](1, 2)\ns = fs[1](1, 2)")
    assert _why(cli, "total") == ["ops v1", "rate v1"]  # add's body read rate; the dict was read, not `add`
    assert _why(cli, "r") == ["fs v1", "rate v1"]  # f's reads, and nothing of g's (other)
    assert _why(cli, "s") == ["fs v1", "other v1"]


def test_a_method_a_callback_and_a_lambda_count_their_reads(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "scale = 3\nw = 2\nbias = 10\nnever = 0\nclass Acc:\n    def __init__(self):\n"
        "        self.n = 0\n    def add(self, k):\n        self.n += k * scale\n        return self.n\n"
        "    def unused(self):\n        return never\nacc = Acc()\ndef key(x):\n    return -x * w")
    cli("run", "got = acc.add(3)\nxs = sorted([1, 3, 2], key=key)\nys = list(map(lambda v: v + bias, xs))\n"
        "keep = lambda: never")
    assert _why(cli, "got") == ["acc v1", "scale v1"]  # through the method's body, not Acc.unused's
    assert _why(cli, "xs") == ["key v1", "w v1"]  # the key= callback ran inside sorted()
    assert _why(cli, "ys") == ["bias v1", "xs v1"]  # the lambda ran inside map(); xs is this block's
    assert _why(cli, "keep") == []  # a lambda only defined reads nothing


def test_a_function_on_a_branch_that_did_not_run_adds_no_reads(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "flag = False\nsecret = 1\ndef f():\n    return secret")
    cli("run", "if flag:\n    y = f()\nelse:\n    y = 0")
    assert _why(cli, "y") == ["f v1", "flag v1"]  # the statement names f; f's body never ran, so no secret
    cli("run", "flag = True\nif flag:\n    z = f()\nelse:\n    z = 0")
    assert _why(cli, "z") == ["f v1", "flag v2", "secret v1"]


def test_version_reads_with_a_trace_take_the_functions_that_ran() -> None:
    block = "ops = {'f': lambda: a}\nv = ops['f']()\nw = g()"
    reads = version_reads(block, ["ops", "v", "w"], trace=[[], ["a"], []])
    assert reads == {"ops": {}, "v": {"ops": "new", "a": "old"}, "w": {"g": "old"}}  # g ran nothing of ours
    static = version_reads(block, ["w"], {"g": "def g():\n    return b"})
    assert static["w"] == {"g": "old", "b": "old"}  # no trace (an older block): calls followed in the source


def _run(interp, source: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    result = interp.run(source)
    assert result["ok"], result
    return result  # type: ignore[no-any-return]


def test_the_worker_traces_closures_recursion_generators_and_errors() -> None:
    from envloop.sandbox.interpreter import Interpreter

    interp = Interpreter()
    _run(interp, "rate = 2\nother = 3\ndef make(k):\n    def inner(x):\n        return x * rate + k\n    return inner\n"
                 "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
                 "def gen():\n    yield other\ndef boom():\n    return 1 / zero")
    made = _run(interp, "adders = [make(i) for i in range(3)]\nx = adders[2](1)\nn = fib(15)\ng = gen()\nfirst = next(g)")
    assert made["trace"] == [[], ["rate"], ["fib"], [], ["other"]]  # closures made by later calls are traced too
    failed = interp.run("a = 1\nb = boom()\nc = fib(3)")
    assert failed["error"]["frames"][-1] == {"where": "boom", "line": 12, "text": "return 1 / zero"}
    assert failed["trace"] == [[], ["zero"]]  # it tried to read zero; the statement that raised ran last
    fib = interp.namespace["fib"]
    assert _run(interp, "fib(10)")["trace"] == [["fib"]] and "_el_enter_" in fib.__code__.co_names  # traced again


def test_restored_functions_are_traced_and_swapped_like_defined_ones() -> None:
    from envloop.sandbox.interpreter import Interpreter
    from envloop.sandbox.snapshot import Snapshotter

    interp = Interpreter()
    snap = Snapshotter(interp)
    source = ("rate = 2\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2) + rate * 0\n"
              "def make(k):\n    return lambda x: x + k + rate\nadd5 = make(5)\nclass K:\n    def m(self):\n"
              "        return rate\nops = {'fib': fib}")
    changes = snap.collect(source, _run(interp, source))
    other_interp = Interpreter()
    other = Snapshotter(other_interp)
    other.chunk_sink = snap.chunk_sink
    items = [{"name": c["name"], "kind": c["kind"], "source": c.get("source"),
              **({"value": {"encoding": c["encoding"], "chunks": c["chunks"], "member": c.get("member")}}
                 if c.get("chunks") else {})} for c in changes]
    assert other.restore(items)["failed"] == []
    ran = _run(other_interp, "a = ops['fib'](12)\nb = add5(1)\nc = K().m()\nd = 1")
    assert ran["trace"] == [["fib", "rate"], ["rate"], ["rate"], []]
    fib = other_interp.namespace["fib"]
    assert other_interp.tracer.registered(fib)  # its calls after the first in a statement run the untraced twin
