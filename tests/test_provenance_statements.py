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
