"""`envloop diff NAME V1 V2`: what changed, addressed by path, from the stored versions (new processes)."""

from __future__ import annotations


def test_containers_show_added_removed_and_changed_items_by_path(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "rows = [{'id': i, 'amount': i * 10.0} for i in range(5)]\ncfg = {'a': 1, 'b': [1, 2]}")
    cli("run", "rows[2]['amount'] = 99.5\nrows.append({'id': 9})\ndel rows[0]\n"
               "cfg['c'] = 3\ndel cfg['a']\ncfg['b'].append(3)")
    assert cli("diff", "rows", "1", "2", "--json") == [
        "- rows[0]: {'id': 0, 'amount': 0.0}",
        "~ rows[1]['amount']: 20.0 → 99.5",
        "+ rows[4]: {'id': 9}",
    ]
    assert cli("diff", "cfg", "1", "2", "--json") == ["- cfg['a']: 1", "+ cfg['b'][2]: 3", "+ cfg['c']: 3"]


def test_one_change_in_a_big_list_is_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "big = list(range(200_000))")
    cli("run", "big[1234] = -1")
    assert cli("diff", "big", "1", "2", "--json") == ["~ big[1234]: 1234 → -1"]


def test_code_and_long_text_get_a_line_diff(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "def f(x):\n    return x + 1\ntext = 'one\\ntwo\\nthree'")
    cli("run", "def f(x):\n    return x + 2\ntext = text.replace('two', 'TWO')")
    code = cli("diff", "f", "1", "2").stdout
    assert "-    return x + 1" in code and "+    return x + 2" in code
    text = cli("diff", "text", "1", "2").stdout
    assert "-two" in text and "+TWO" in text and " one" in text


def test_own_class_instances_and_shared_names_compare_by_their_rendering(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "class P:\n    def __init__(self, x):\n        self.x = x\npt = P(1)\na = [1]\nb = a")
    cli("run", "pt.x = 2\nb.append(2)")
    assert cli("diff", "pt", "1", "2", "--json") == ["~ pt: P(x=1) → P(x=2)"]
    assert cli("diff", "a", "1", "2", "--json")[0].startswith("~ a: [1] → [1, 2]")


def test_same_version_unknown_names_and_versions(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "x = 1")
    cli("run", "del x")
    assert "x v1 and v1 are the same" in cli("diff", "x", "1", "1").stdout
    assert cli("diff", "x", "1", "2", "--json") == ["~ x: 1 → deleted"]
    assert "has no version 9" in cli("diff", "x", "1", "9", ok=False).stderr
    assert "no name 'nope'" in cli("diff", "nope", "1", "2", ok=False).stderr
