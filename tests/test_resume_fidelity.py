"""A resumed conversation has exactly the namespace that was stored, or says by name what it lost.

Each step is a separate ``envloop run`` process (a brand-new worker that
restores the namespace from the database), as after a worker restart, an idle
eviction or a week away. What the last step prints is compared with the same
blocks run as ONE plain CPython script: a value that comes back different is a
failure. The suite (tests/resume_suite.py) runs under several hash seeds,
because restore order must never depend on set or hash order.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

_spec = importlib.util.spec_from_file_location("resume_suite", Path(__file__).parent / "resume_suite.py")
assert _spec is not None and _spec.loader is not None
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)


def test_the_suite_covers_at_least_a_hundred_names() -> None:
    assert len(suite.defined_names()) >= 100


@pytest.fixture(scope="module")
def cpython_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the three blocks print when run as one plain CPython script."""
    script = tmp_path_factory.mktemp("cpython") / "suite.py"
    script.write_text(suite.DEFINE + suite.MUTATE + suite.CHECK, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-X", "utf8", "-I", str(script)], capture_output=True, text=True,
                          encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("seed", ["0", "1", "4242"])
def test_every_name_comes_back_exact_in_a_new_process(run_cli: Any, cpython_output: str, seed: str) -> None:
    env = {"PYTHONHASHSEED": seed}
    for step, block in enumerate([suite.DEFINE, suite.MUTATE]):
        proc = run_cli("run", *(["--new"] if step == 0 else []), block, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "could not restore" not in proc.stderr
    check = run_cli("run", suite.CHECK, env=env)
    assert check.returncode == 0, check.stderr
    assert "could not restore" not in check.stderr
    expected, got = cpython_output.splitlines(), check.stdout.splitlines()
    differ = [f"CPython: {e}\nresumed: {g}" for e, g in zip(expected, got, strict=False) if e != g]
    assert not differ and len(expected) == len(got), "\n".join(differ)


def _steps(run_cli: Any, *blocks: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Each block in its own process; the last one's result."""
    proc = None
    for step, block in enumerate(blocks):
        proc = run_cli("run", *(["--new"] if step == 0 else []), block, env=env)
        assert proc.returncode == 0 or step == len(blocks) - 1, proc.stdout + proc.stderr
    assert isinstance(proc, subprocess.CompletedProcess)
    return proc


def test_closure_state_survives(run_cli: Any) -> None:
    mk = "def mk():\n    n = 0\n    def c():\n        nonlocal n\n        n += 1\n        return n\n    return c\n"
    proc = _steps(run_cli, mk + "c = mk(); c(); c(); c()", "c()")
    assert proc.stdout.strip() == "4"


def test_a_function_keeps_what_it_was_made_with(run_cli: Any) -> None:
    proc = _steps(
        run_cli,
        "def make_adder(k):\n    return lambda x: x + k\nk = 1\nadd = make_adder(k)\n"
        "def base():\n    return 'old'\ndef deco(f):\n    return lambda: 'deco:' + f()\n"
        "wrapped = deco(base)\ncreations = []\nlate = deco(base); creations.append(1)\nzombie = 1; zf = lambda: 2",
        "k = 1000\ndef base():\n    return 'new'\ndel zombie",
        "(add(1), wrapped(), late(), creations, zf(), 'zombie' in dir())",
    )
    assert proc.stdout.strip() == "(2, 'deco:old', 'deco:old', [1], 2, False)"


def test_a_host_call_on_a_binding_line_is_not_replayed(run_cli: Any) -> None:
    first = run_cli("run", "--new", "receipt = (save_artifact('a.txt', 'x'), lambda: 'sent')[1]")
    assert first.returncode == 0, first.stderr
    again = run_cli("run", "receipt()")
    assert again.stdout.strip() == "'sent'"
    third = run_cli("run", "receipt()")
    assert third.stdout.strip() == "'sent'"
    listing = run_cli("artifacts")
    assert "a.txt" in listing.stdout and " v1 " in listing.stdout and "v2" not in listing.stdout


def test_mutation_through_an_alias_versions_both_names_and_identity_returns(run_cli: Any) -> None:
    proc = _steps(run_cli, "a = [1]; b = a", "b.append(2)", "(a, b, a is b)")
    assert proc.stdout.strip() == "([1, 2], [1, 2], True)"
    history = run_cli("history", "a")
    assert "v2" in history.stdout
    run_cli("run", "b.append(3)")
    fork = run_cli("fork", "--at", "2")
    assert fork.returncode == 0, fork.stderr
    forked = run_cli("run", "(a, b, a is b)")  # the fork is the current conversation, in a new process
    assert forked.stdout.strip() == "([1, 2], [1, 2], True)"


def test_class_state_set_after_the_statement_survives(run_cli: Any) -> None:
    proc = _steps(
        run_cli,
        "class K:\n    n = 0\n    def f(self):\n        return 'orig'\n"
        "class Animal:\n    count = 0\n    seen = []\n    def __init__(self):\n        Animal.count += 1\n"
        "    @classmethod\n    def reg(cls, x):\n        cls.seen.append(x)",
        "K.n = 5; K.f = lambda self: 'patched'\nAnimal(); Animal.reg(5)",
        "(K.n, K().f(), Animal.count, Animal.seen)",
    )
    assert proc.stdout.strip() == "(5, 'patched', 1, [5])"


def test_descriptors_set_after_the_statement_and_on_a_dataclass_survive(run_cli: Any) -> None:
    proc = _steps(
        run_cli,
        "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int = 1\nclass K:\n    pass",
        "P.n = 5\nK.s = staticmethod(lambda: 5)\nK.c = classmethod(lambda cls: cls.__name__)\n"
        "K.p = property(lambda self: 9)",
        "(P.n, P(), K.s(), K.c(), K().p, K().s())",
    )
    assert proc.stdout.strip() == "(5, P(x=1), 5, 'K', 9, 5)"


def test_a_class_attribute_deleted_after_the_statement_stays_deleted(run_cli: Any) -> None:
    proc = _steps(run_cli, "class K:\n    n = 1\n    def m(self):\n        return 1", "del K.n\ndel K.m",
                  "(hasattr(K, 'n'), hasattr(K, 'm'))")
    assert proc.stdout.strip() == "(False, False)"
    assert "K v3" not in proc.stdout + proc.stderr  # the resume stored no different K


def test_objects_a_class_attribute_shares_with_names_stay_shared(run_cli: Any) -> None:
    proc = _steps(
        run_cli,
        "class Singleton:\n    inst = None\n    @classmethod\n    def get(cls):\n        if cls.inst is None:\n"
        "            cls.inst = cls()\n        return cls.inst\na = Singleton.get()\n"
        "class Animal:\n    all = []\n    def __init__(self, n):\n        self.n = n\n        Animal.all.append(self)\n"
        "d = Animal('rex')\nsettings = {'a': 1}\nSingleton.cfg = settings",
        "b = Singleton.get()\nd.n = 'max'\ne = Animal('e')\nsettings = {'new': 1}",
        "(a is b, Singleton.inst is a, Animal.all[0] is d, [x.n for x in Animal.all], Animal.all[1] is e,"
        " Singleton.cfg, Singleton.cfg is settings)",
    )
    assert proc.stdout.strip() == "(True, True, True, ['max', 'e'], True, {'a': 1}, False)"
    assert "could not restore" not in proc.stderr


def test_a_nested_class_changed_after_the_statement_survives(run_cli: Any) -> None:
    proc = _steps(run_cli, "class Outer:\n    class Inner:\n        v = 1\n    def make(self):\n        return self.Inner()",
                  "Outer.Inner.v = 2\nOuter.Inner.w = [3]", "(Outer().make().v, Outer.Inner.w, Outer.Inner.__qualname__)")
    assert proc.stdout.strip() == "(2, [3], 'Outer.Inner')"


def test_an_attribute_that_cannot_be_stored_makes_the_class_reported_lost(run_cli: Any) -> None:
    first = run_cli("run", "--new", "class G:\n    pass\nG.it = (n for n in [1, 2])\nclass H:\n    it = (n for n in [1])")
    assert "G: attributes set after its class statement cannot be stored: it" in first.stderr
    listing = run_cli("vars")
    g_line = next(line for line in listing.stdout.splitlines() if line.startswith("G "))
    assert "LOST" in g_line
    resumed = run_cli("run", "next(H.it)")  # H's iterator is what its own statement makes
    assert resumed.stdout.strip() == "1"
    gone = run_cli("run", "G")
    assert "could not restore G" in gone.stderr and "NameError" in gone.stderr  # never a G without it


def test_typing_annotations_come_back_equal(run_cli: Any) -> None:
    define = (
        "import typing, collections.abc\n"
        "def f(x: list[int], y: int | None = None, z: typing.Optional[typing.List[int]] = None,\n"
        "      w: typing.Callable[[int], str] = None, v: typing.Callable[..., int] = None,\n"
        "      t: collections.abc.Callable[[int], str] = None, q: typing.Any = 1,\n"
        "      r: typing.Dict[str, typing.Tuple[int, ...]] = None, lit: typing.Literal['a', 'b'] = 'a'"
        ") -> dict[str, 'P']:\n    return {}\n"
    )
    import collections.abc
    import typing

    namespace: dict[str, Any] = {"typing": typing, "collections": collections}
    exec(compile(define, "<define>", "exec", dont_inherit=True), namespace)  # plain CPython
    want = repr(namespace["f"].__annotations__)
    proc = _steps(run_cli, define, "f.__annotations__")
    assert proc.stdout.strip() == want
    assert "could not restore" not in proc.stderr


def test_containers_of_classes_and_functions_keep_their_items(run_cli: Any) -> None:
    proc = _steps(
        run_cli,
        "errors = []; errors.append(ValueError)\ndef add(a, b):\n    return a + b\nops = {'add': add}",
        "ops['mul'] = lambda a, b: a * b",
        "(errors, sorted(ops), ops['mul'](3, 4), ops['add'] is add)",
    )
    assert proc.stdout.strip() == "([<class 'ValueError'>], ['add', 'mul'], 12, True)"


def test_random_state_and_generators_continue(run_cli: Any) -> None:
    import random

    random.seed(1)
    local = random.Random(7)
    want = (random.random(), local.random())
    proc = _steps(run_cli, "import random\nrandom.seed(1)\nr = random.Random(7)", "(random.random(), r.random())")
    assert proc.stdout.strip() == repr(want)


@pytest.mark.parametrize("seed", ["1", "2", "3", "5", "8"])
def test_subclass_instance_restores_under_any_hash_seed(run_cli: Any, seed: str) -> None:
    env = {"PYTHONHASHSEED": seed}
    define = ("class Animal:\n    def __init__(self, name):\n        self.name = name\n"
              "class Dog(Animal):\n    pass\nd = Dog('rex')")
    proc = _steps(run_cli, define, "(d.name, type(d).__name__, isinstance(d, Animal))", env=env)
    assert proc.stdout.strip() == "('rex', 'Dog', True)"
    assert "could not restore" not in proc.stderr


def test_names_sharing_one_large_string_restore_one_copy(run_cli: Any) -> None:
    names = "\n".join(f"s{i} = big" for i in range(24))
    proc = _steps(run_cli, f"big = 'x' * 3_000_000\n{names}", "(s0 is big, s23 is s0, len(s23))")
    assert proc.stdout.strip() == "(True, True, 3000000)"


def test_a_lru_cache_function_is_kept_by_its_def_and_says_its_cache_is_not(run_cli: Any) -> None:
    proc = _steps(run_cli, "from functools import lru_cache\n@lru_cache\ndef sq(n):\n    return n * n\nsq(3)",
                  "(sq(4), sq.cache_info().hits)")
    assert proc.stdout.strip() == "(16, 0)"
    listing = run_cli("vars")
    assert "state is not kept" in listing.stdout


def test_an_unstorable_function_is_reported_lost_by_name(run_cli: Any) -> None:
    first = run_cli("run", "--new", "import functools\nadd3 = functools.lru_cache(lambda a, b: a + b)")
    assert "add3" in first.stdout + first.stderr
    listing = run_cli("vars")
    assert "add3" in listing.stdout and "LOST" in listing.stdout
    closure = run_cli("run", "def mk():\n    it = (n for n in [1])\n    return lambda: next(it)\nh = mk()")
    assert "h (a closure variable): generator objects cannot be stored" in closure.stderr
    resumed = run_cli("run", "h()")
    assert "could not restore h" in resumed.stderr and "NameError" in resumed.stderr  # never a different h


# ------------------------------------------------------------------ in-process restore behaviour ---


def _worker_pair() -> tuple[Any, Any]:
    from envloop.sandbox.interpreter import Interpreter
    from envloop.sandbox.snapshot import Snapshotter

    interp = Interpreter()
    return interp, Snapshotter(interp)


def _items(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Restore items as the environment sends them, from a block's change records."""
    items = []
    for change in changes:
        item = {"name": change["name"], "kind": change["kind"], "source": change.get("source")}
        if change.get("chunks"):
            item["value"] = {"encoding": change["encoding"], "chunks": change["chunks"], "member": change.get("member")}
        items.append(item)
    return items


def test_a_statement_that_loops_at_restore_is_stopped_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from envloop.sandbox import restoring

    monkeypatch.setattr(restoring, "STATEMENT_SECONDS", 0.3)
    interp, snap = _worker_pair()
    source = ("def wait_for(c):\n    while True:\n        try:\n            limit\n            return c\n"
              "        except NameError:\n            pass\nlimit = 1\n@wait_for\nclass Slow:\n    pass\nkeep = [1, 2]")
    result = interp.run(source)
    assert result["ok"], result
    changes = snap.collect(source, result)
    other_interp, other = _worker_pair()
    other.chunk_sink = snap.chunk_sink
    items = [i for i in _items(changes) if i["name"] != "limit"]  # limit lost: the decorator spins
    started = time.monotonic()
    report = other.restore(items, seconds=60)
    assert time.monotonic() - started < 30  # the watchdog stopped it, not the whole budget
    failed = {f["name"]: f["error"] for f in report["failed"]}
    assert "ran longer than" in failed["Slow"]
    assert other_interp.namespace["keep"] == [1, 2] and "wait_for" in report["restored"]


def test_restore_order_is_topological_whatever_the_order_sent() -> None:
    items = [
        {"name": "C", "kind": "class", "source": "class C(B):\n    pass"},
        {"name": "B", "kind": "class", "source": "class B(A):\n    pass"},
        {"name": "A", "kind": "class", "source": "class A:\n    pass"},
        {"name": "m", "kind": "import", "source": "import math as m"},
    ]
    from envloop.sandbox.restoring import order

    assert [i["name"] for i in order(items)] == ["m", "A", "B", "C"]


def test_host_functions_refuse_during_a_restore(tmp_path: Path) -> None:
    from envloop.sandbox import Sandbox

    calls: list[str] = []
    restarts: list[int] = []
    def on_call(fn: str, args: list[Any], kwargs: dict[str, Any]) -> str:
        calls.append(fn)
        return "ok"

    with Sandbox(tmp_path, on_call=on_call,
                 on_restart=lambda sb: restarts.append(1), host_functions=["ping_host"]) as box:
        report = box.restore([{"name": "K", "kind": "class", "source": "class K:\n    got = ping_host()"}])
        assert calls == []
        assert report["failed"][0]["name"] == "K"
        assert "cannot run while the namespace is being restored" in report["failed"][0]["error"]
        hung = box.restore([{"name": "H", "kind": "class", "source": (
            "class H:\n    while True:\n        try:\n            pass\n        except BaseException:\n            pass")}],
            timeout=3)
        assert [f["name"] for f in hung["failed"]] == ["H"]
        assert restarts == []  # a worker killed during a restore is not restored again, recursively
        assert box.run("1 + 1").result == "2"


def test_a_name_a_restore_cannot_rebuild_is_listed_lost_with_the_reason(run_cli: Any) -> None:
    first = run_cli("run", "--new", "class Logged:\n    saved = save_artifact('log.txt', 'x')\nkeep = 1")
    assert first.returncode == 0, first.stderr
    resumed = run_cli("run", "keep + 1")
    assert resumed.stdout.strip() == "2"
    assert "could not restore Logged" in resumed.stderr
    listing = run_cli("vars")
    line = next(x for x in listing.stdout.splitlines() if x.startswith("Logged"))
    assert "LOST" in line
    artifacts = run_cli("artifacts").stdout
    assert "log.txt" in artifacts and " v1 " in artifacts and "v2" not in artifacts  # not saved again


def test_a_block_whose_commit_fails_does_not_stay_in_the_live_namespace(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from envloop.conversation import Envloop
    from envloop.environment import Environment
    from envloop.errors import StoreError

    app = Envloop.open(str(tmp_path / "commit.db"))
    try:
        cid = app.run_code("x = 1\nlog = [1]", new=True).conversation_id
        stored = Environment._persist

        def full_disk(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("database or disk is full")

        monkeypatch.setattr(Environment, "_persist", full_disk)
        with pytest.raises(StoreError):
            app.run_code("x = 2; log.append(2)", conversation_id=cid)
        monkeypatch.setattr(Environment, "_persist", stored)
        after = app.run_code("z = x * 10\n(z, log)", conversation_id=cid)
        assert after.outcome.result.result == "(10, [1])"
    finally:
        app.close()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_file_deleted_or_replaced_under_a_live_process_is_refused(tmp_path: Path, how: str) -> None:
    import shutil

    from envloop.conversation import Envloop
    from envloop.errors import StoreError

    path = tmp_path / "live.db"
    app = Envloop.open(str(path))
    try:
        cid = app.run_code("x = 1", new=True).conversation_id
        if how == "deleted":
            path.unlink()
        else:
            shutil.copy(path, tmp_path / "copy.db")
            (tmp_path / "copy.db").replace(path)
        with pytest.raises(StoreError, match=how.split()[0]):
            app.run_code("x = 2", conversation_id=cid)
    finally:
        app.close()


def _make_read_only(folder: Path) -> bool:
    """Make the database folder and its files unwritable (chattr +i when root ignores modes)."""
    import os
    import shutil

    targets = [*folder.iterdir(), folder]
    if os.geteuid() != 0:
        for target in targets:
            target.chmod(0o555 if target.is_dir() else 0o444)
        return True
    chattr = shutil.which("chattr")
    return chattr is not None and subprocess.run([chattr, "+i", *map(str, targets)], capture_output=True).returncode == 0


def _make_writable(folder: Path) -> None:
    import os
    import shutil

    targets = [folder, *folder.iterdir()] if folder.exists() else []
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run([shutil.which("chattr") or "chattr", "-i", str(folder)], capture_output=True)
        targets = [folder, *folder.iterdir()]
        subprocess.run([shutil.which("chattr") or "chattr", "-i", *map(str, targets)], capture_output=True)
    for target in targets:
        target.chmod(0o755 if target.is_dir() else 0o644)


def test_a_read_only_database_can_still_be_read(run_cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    db = str(folder / "x.db")
    assert run_cli("--db", db, "run", "--new", "x = [1, 2]").returncode == 0
    if not _make_read_only(folder):
        pytest.skip("cannot make a folder read-only here")
    try:
        for command in (["vars"], ["history", "x"], ["why", "x"], ["conversations"], ["export"]):
            proc = run_cli("--db", db, *command)
            assert proc.returncode == 0, (command, proc.stderr)
        assert "[1, 2]" in run_cli("--db", db, "vars").stdout
        write = run_cli("--db", db, "run", "y = 1")
        assert write.returncode != 0 and "readonly" in write.stderr and "Traceback" not in write.stderr
    finally:
        _make_writable(folder)
    assert run_cli("--db", db, "run", "y = 1").returncode == 0  # writable again: works again


def test_a_live_process_recovers_once_its_database_is_writable_again(tmp_path: Path) -> None:
    from envloop.conversation import Envloop
    from envloop.errors import StoreError

    folder = tmp_path / "archive"
    folder.mkdir()
    app = Envloop.open(str(folder / "x.db"))
    cid = app.run_code("x = 1", new=True).conversation_id
    app.close()
    if not _make_read_only(folder):
        pytest.skip("cannot make a folder read-only here")
    try:
        app = Envloop.open(str(folder / "x.db"))
        with pytest.raises(StoreError, match="readonly"):
            app.run_code("y = 2", conversation_id=cid)
    finally:
        _make_writable(folder)
    try:
        after = app.run_code("y = 3\n(x, y)", conversation_id=cid)  # the same process, writable again
        assert after.outcome.result.result == "(1, 3)" and after.outcome.changed == [("y", 1, "value")]
    finally:
        app.close()


def test_a_class_changed_by_another_process_keeps_this_process_instances(tmp_path: Path) -> None:
    from envloop.conversation import Envloop

    db = str(tmp_path / "two.db")
    first, second = Envloop.open(db), Envloop.open(db)
    try:
        cid = first.run_code("class K:\n    n = 0\nk = K()", new=True).conversation_id
        second.run_code("K.n = 5", conversation_id=cid)
        seen = first.run_code("(isinstance(k, K), K.n, k.n)", conversation_id=cid)
        assert seen.outcome.result.result == "(True, 5, 5)"
    finally:
        first.close()
        second.close()


def test_module_level_underscore_names_are_versioned_and_resume(cli) -> None:  # type: ignore[no-untyped-def]
    """`_cache = {}` and `def _helper()` are allowed (issue 13), so they must survive a new process too."""
    cli("run", "--new", "_cache = {1: 2}\ndef _helper(n):\n    return n + len(_cache)")
    cli("run", "_cache[3] = 4")
    assert cli("run", "--json", "(_cache, _helper(10))")["result"] == "({1: 2, 3: 4}, 12)"
    names = {v["name"]: v["version"] for v in cli("vars", "--json")}
    assert names["_cache"] == 2 and names["_helper"] == 1
    cli("run", "del _cache")
    assert cli("run", "_cache", ok=False).returncode == 1


def test_module_state_the_sandbox_hands_out_continues_in_a_new_process(run_cli: Any) -> None:
    import calendar
    import decimal
    import random

    calendar_before = calendar.firstweekday()
    try:
        context = decimal.Context(prec=5, traps=[decimal.InvalidOperation, decimal.Overflow])
        random.seed(3)
        want = (str(context.divide(decimal.Decimal(1), decimal.Decimal(3))),
                str(context.divide(decimal.Decimal(1), decimal.Decimal(0))), 6, ";", random.random())
    finally:
        calendar.setfirstweekday(calendar_before)
    proc = _steps(
        run_cli,
        "import decimal, calendar, csv, random\ndecimal.getcontext().prec = 5\n"
        "decimal.getcontext().traps[decimal.DivisionByZero] = False\ncalendar.setfirstweekday(6)\n"
        "csv.register_dialect('semi', delimiter=';')\nrandom.seed(3)",
        "(str(decimal.Decimal(1) / decimal.Decimal(3)), str(decimal.Decimal(1) / decimal.Decimal(0)),"
        " calendar.firstweekday(), csv.get_dialect('semi').delimiter, random.random())",
    )
    assert proc.stdout.strip() == repr(want)
    assert "@" not in proc.stderr  # module state is stored, not listed as names


def test_the_reserved_module_state_names_agree() -> None:
    from envloop.sandbox import module_state
    from envloop.sandbox.wire_schema import MODULE_STATE
    from envloop.store.versions import WORKER_STATE

    assert module_state.NAMES == MODULE_STATE == set(WORKER_STATE)


def _same_as_cpython(run_cli: Any, *blocks: str) -> list[str]:
    """Run each block as its own ``envloop run`` process and assert each printed what the same blocks print
    when run as one plain CPython script; the outputs, for the checks a test adds."""
    marker = "----step----"
    script = f"\nprint({marker!r})\n".join(blocks)
    plain = subprocess.run([sys.executable, "-X", "utf8", "-I", "-c", script], capture_output=True, text=True,
                           encoding="utf-8", timeout=60)
    assert plain.returncode == 0, plain.stderr
    expected = plain.stdout.split(marker + "\n")
    got = []
    for step, block in enumerate(blocks):
        proc = run_cli("run", *(["--new"] if step == 0 else []), block)
        assert proc.returncode == 0 and "could not restore" not in proc.stderr, proc.stdout + proc.stderr
        assert proc.stdout == expected[step], f"step {step}: CPython printed {expected[step]!r}"
        got.append(proc.stdout)
    return got


_OLD_CLASS = (
    "class P:\n    count = 0\n    def __init__(self, v):\n        self._v = v\n    def get(self):\n        return self._v\n"
    "    def bump(self):\n        type(self).count += 1\n        return type(self).count\n"
    "old = P(7)\nklass = P\nboth = [old]\nprint(old.get())"
)


def test_an_instance_keeps_its_class_when_the_class_is_redefined(run_cli: Any) -> None:
    """CPython keeps an old instance's class (and that class's own state) after ``class P`` runs again."""
    got = _same_as_cpython(
        run_cli,
        _OLD_CLASS,
        "class P:\n    def __init__(self, v):\n        self._v = v\n    def get(self):\n        return -1\n"
        "both.append(P(1))\nprint(old.get(), type(old) is P, klass is type(old))",
        "print(old.bump(), [x.get() for x in both], type(both[0]) is type(old), type(both[1]) is P, klass.count)",
        "print(old.get(), type(old).count, type(old) is P, klass is type(old), type(both[0]) is klass)\n"
        "del old, klass\nboth.pop(0)\nprint(len(both))",
        "print(both[0].get(), type(both[0]) is P, type(both[0]).__name__)",
    )
    assert got[3] == "7 1 False True True\n1\n"  # the old class's state (count) came back too


def test_a_class_superseded_in_the_block_that_made_it_is_kept(run_cli: Any, cli: Any) -> None:
    _same_as_cpython(
        run_cli,
        "class P:\n    def __init__(self, v):\n        self.v = v\nold = P(1)\nclass P:\n    pass\n"
        "class Q:\n    n = 1\nq = Q()\ndel Q\nprint(type(old) is P)",
        "print(old.v, type(old) is P, type(q).__name__, type(q).n)",
        "class Q:\n    n = 2\nprint(type(q).n, Q.n, type(q) is Q)",
    )
    listing = cli("vars").stdout
    assert "@class" not in listing and "P(v=1)" in listing  # the kept classes are no variables


def test_a_subclass_keeps_its_base_when_the_base_is_redefined(run_cli: Any) -> None:
    got = _same_as_cpython(
        run_cli,
        "class P:\n    def who(self):\n        return 'old P'\nclass S(P):\n    pass\ns = S()\nprint(s.who())",
        "class P:\n    def who(self):\n        return 'new P'\nprint(s.who(), issubclass(S, P))",
        "print(s.who(), issubclass(S, P), isinstance(s, P), S().who())",
    )
    assert got[2] == "old P False False old P\n"


def test_an_instance_of_a_class_made_in_a_function_is_reported_when_the_block_runs(run_cli: Any, cli: Any) -> None:
    block = ("def make():\n    class Q:\n        def __init__(self):\n            self.n = 3\n    return Q()\n"
             "q = make()\nkeep = [1, 2]")
    first = run_cli("run", "--new", block)
    assert first.returncode == 0, first.stderr
    assert "q: the class make.<locals>.Q was made by a call of that function" in first.stdout + first.stderr
    later = run_cli("run", "print(keep, 'q' in dir())")
    assert later.stdout.strip() == "[1, 2] False"
    assert "LOST" in cli("vars").stdout


def test_redefined_dataclass_and_enum_keep_their_members_and_registry(run_cli: Any) -> None:
    define = ("from dataclasses import dataclass\nfrom enum import Enum\nregistry = []\n"
              "def reg(c):\n    registry.append(c)\n    return c\n")
    _same_as_cpython(
        run_cli,
        define + "@reg\n@dataclass\nclass Pt:\n    x: int\n    y: int = 0\n"
        "class Color(Enum):\n    RED = 1\n    GREEN = 2\np = Pt(1, 2)\nc = Color.GREEN\nprint(p, c)",
        "@reg\n@dataclass\nclass Pt:\n    x: int\nclass Color(Enum):\n    RED = 1\n"
        "print(p, type(p) is Pt, c, c is Color.RED, len(registry), registry[0] is type(p))",
        "print(p, type(p) is Pt, c, c.value, type(c) is Color, len(registry), registry[0] is type(p),\n"
        "      registry[1] is Pt, p == type(p)(1, 2), Pt(5))",
    )


def test_a_class_nested_in_a_redefined_class_is_kept_with_its_outer_class(run_cli: Any) -> None:
    got = _same_as_cpython(
        run_cli,
        "class A:\n    tag = 'old'\n    class B:\n        def who(self):\n            return 'old B'\na = A()\nb = A.B()",
        "class A:\n    tag = 'new'\n    class B:\n        def who(self):\n            return 'new B'\nA.B.extra = 1\n"
        "print(b.who(), type(a).B is type(b), type(a).tag)",
        "print(b.who(), type(a).B is type(b), type(a).tag, type(b) is A.B, A.B.extra)",
    )
    assert got[2] == "old B True old False 1\n"


def test_exceptions_kept_as_values_come_back_with_their_state(run_cli: Any) -> None:
    """Builtin and own exceptions (a data loop's collected errors): args, attributes, chaining, identity."""
    got = _same_as_cpython(
        run_cli,
        "class BadRow(ValueError):\n    def __init__(self, row, why):\n        super().__init__(f'row {row}: {why}')\n"
        "        self.row = row\n        self.why = why\nerrors = []\nfor i, raw in enumerate(['1', 'x', '']):\n"
        "    try:\n        if not raw:\n            raise BadRow(i, 'empty')\n        int(raw)\n"
        "    except ValueError as e:\n        errors.append(e)\nlast = errors[-1]\n"
        "try:\n    try:\n        1 / 0\n    except ZeroDivisionError as inner:\n"
        "        raise RuntimeError('wrapped') from inner\nexcept RuntimeError as e:\n    chained = e\n"
        "ose = FileNotFoundError(2, 'No such file', 'data.csv')\nimp = ImportError('no mod', name='nope')\n"
        "class P:\n    pass\ntry:\n    P().missing\nexcept AttributeError as e:\n    ae = e\n"
        "grp = ExceptionGroup('many', [ValueError(1), TypeError(2)])\nstop = StopIteration(42)\nsl = slice(2, None, -1)",
        "for e in errors:\n    print(type(e).__name__, repr(e), e.args, getattr(e, 'row', None), isinstance(e, ValueError))\n"
        "print(last is errors[-1], repr(chained), ose.errno, ose.filename, str(ose), imp.name, repr(imp))\n"
        "print(ae.name, type(ae.obj).__name__, str(ae), repr(grp), stop.value, [0, 1, 2, 3][sl])\n"
        "errors[0].args = ('changed',)\nlast.row = 99",
        "try:\n    raise last\nexcept BadRow as e:\n    print('caught', e.row, e is errors[-1], errors[0].args)\n"
        "try:\n    raise chained\nexcept RuntimeError as e:\n    print(repr(e), type(e).__name__)",
    )
    assert "caught 99 True ('changed',)" in got[2]


def test_partial_array_and_chainmap_come_back_sharing_what_they_shared(run_cli: Any) -> None:
    got = _same_as_cpython(
        run_cli,
        "from functools import partial\nfrom collections import ChainMap\nimport array\n"
        "def power(base, exp=2):\n    return base ** exp\ncube = partial(power, exp=3)\ncube.note = 'three'\n"
        "half = partial(round, ndigits=1)\narr = array.array('d', [1.5, 2.5])\n"
        "defaults = {'color': 'red', 'size': 1}\nover = {'size': 2}\ncm = ChainMap(over, defaults)",
        "print(cube(2), cube.note, half(2.345), arr.tolist(), cm['size'], cm['color'], cm.maps[1] is defaults)\n"
        "over['size'] = 5\narr.append(9)",
        "print(cm['size'], arr.tolist(), cm.maps[0] is over, cube.keywords, cube.func is power)",
    )
    assert got[2] == "5 [1.5, 2.5, 9.0] True {'exp': 3} True\n"


def test_an_iterator_over_a_list_keeps_its_place_and_its_list(run_cli: Any) -> None:
    got = _same_as_cpython(
        run_cli,
        "rows = [['id', 'name'], [1, 'a'], [2, 'b']]\nit = iter(rows)\nheader = next(it)\nchars = iter('héllo')\n"
        "next(chars)\nnums = iter(range(10, 20))\nnext(nums)\nback = reversed([1, 2, 3])\nnext(back)\n"
        "done = iter([1])\nnext(done)\nsame = it",
        "print(next(it), next(chars), next(nums), next(back), list(done), same is it)\nrows.append([3, 'c'])",
        "print(list(it), list(chars), next(nums), list(back))",
    )
    assert got[2] == "[[2, 'b'], [3, 'c']] ['l', 'l', 'o'] 12 [1]\n"


def test_an_exception_class_with_slots_is_reported_not_stored(run_cli: Any) -> None:
    first = run_cli("run", "--new", "class SE(Exception):\n    __slots__ = ('x',)\ns = SE('a')\ns.x = 1\nkeep = 1")
    assert first.returncode == 0, first.stderr
    assert "s: SE objects cannot be stored: an exception class with __slots__" in first.stdout + first.stderr


def test_parts_made_for_the_encoding_are_never_mistaken_for_repeats() -> None:
    """An array's bytes and an exception's attribute copy are made while encoding; once freed, their ids
    went to the next ones, which the encoder then wrote as references to the first: every array came back
    holding another's data."""
    from envloop.sandbox import codec
    from envloop.sandbox._codec_defs import active
    from envloop.sandbox.interpreter import Interpreter
    from envloop.sandbox.snapshot import Snapshotter

    interp = Interpreter()
    snap = Snapshotter(interp)
    result = interp.run("import array\nerrs = []\nfor i in range(500):\n    e = ValueError(i)\n    e.row = i\n"
                        "    errs.append(e)\narrs = [array.array('q', [i] * 64) for i in range(300)]")
    assert result["ok"], result["error"]
    with active(snap.defs):
        errs = codec.decode(codec.encode(interp.namespace["errs"]).text, classes={})  # type: ignore[union-attr]
        arrs = codec.decode(codec.encode(interp.namespace["arrs"]).text, classes={})  # type: ignore[union-attr]
    assert [e.row for e in errs] == list(range(500))  # type: ignore[attr-defined]
    assert [a.tolist() for a in arrs] == [[i] * 64 for i in range(300)]  # type: ignore[attr-defined]
