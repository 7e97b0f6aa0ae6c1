"""The import allowlist, and the proof that lets attribute names be checked at compile time.

The policy emits native attribute reads for public names.  That is only sound if
no public attribute path from anything the sandbox can name leads to a module,
``sys``/``os``/``builtins``, a frame, a code object, a traceback, a closure cell
or a module's globals dict.  The walk below starts from every allowed facade,
the sandbox's builtins and instances of the library objects code actually makes,
and follows public attributes, ``type(x)`` and container items.
"""

from __future__ import annotations

import types

import pytest

from envloop.sandbox import modules
from envloop.sandbox.modules import ALLOWED_MODULES, facade, find_forbidden, safe_import

NEVER_ALLOWED = ["sys", "os", "subprocess", "builtins", "types", "operator", "inspect", "gc", "pickle", "marshal", "ctypes", "importlib", "threading", "multiprocessing", "timeit", "socket", "logging", "zoneinfo", "locale", "shutil", "pathlib", "posix", "io.open", "codecs", "asyncio", "signal", "resource", "_thread", "__main__", "envloop", "RestrictedPython"]


def _sandbox_builtins() -> dict:
    """The builtins the sandbox gets; falls back to RestrictedPython's stock set."""
    try:
        from envloop.sandbox.interpreter import Interpreter

        return dict(Interpreter().namespace["__builtins__"])
    except ImportError:
        from RestrictedPython import safe_builtins

        return dict(safe_builtins)


def _library_instances() -> dict[str, object]:
    """Objects of the kinds sandboxed code creates, built through the facades only."""
    m = {name: facade(name) for name in ALLOWED_MODULES}
    rx = m["re"].compile(r"(?P<word>\w+)\s(\d+)")
    match = rx.search("abc 123")
    dt = m["datetime"]
    Point = m["collections"].namedtuple("Point", "x y")

    @m["dataclasses"].dataclass
    class Item:
        name: str
        qty: int = 0

    class Color(m["enum"].Enum):
        RED = 1

    def gen():
        yield 1

    @m["functools"].lru_cache(maxsize=None)
    def cached(n):
        return n

    def wrapped():
        return 1

    @m["functools"].wraps(wrapped)
    def wrapper():
        return 2

    @m["contextlib"].contextmanager
    def cm():
        yield 1

    errors = {}
    for label, thunk in {
        "attr": lambda: m["math"].nope,
        "json": lambda: m["json"].loads("{"),
        "re": lambda: m["re"].compile("("),
        "decode": lambda: b"\xff".decode("utf-8"),
        "key": lambda: {}["k"],
        "dataclass_frozen": lambda: m["dataclasses"].replace(1),
        "csv": lambda: list(m["csv"].reader(["a,\"b"], strict=True)),
        "stat": lambda: m["statistics"].mean([]),
        "toml": lambda: m["tomllib"].loads("a = "),
        "ip": lambda: m["ipaddress"].ip_address("x"),
    }.items():
        try:
            thunk()
        except Exception as exc:
            errors[f"error_{label}"] = exc
    buf = m["io"].StringIO("a,b\n1,2\n")
    out = m["io"].StringIO()
    return {
        **errors,
        "pattern": rx,
        "match": match,
        "scanner": rx.scanner("abc 123"),
        "finditer": rx.finditer("a 1 b 2"),
        "datetime": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "date": dt.date(2024, 1, 2),
        "timedelta": dt.timedelta(days=1),
        "struct_time": m["time"].localtime(0),
        "decimal": m["decimal"].Decimal("1.5"),
        "decimal_context": m["decimal"].getcontext(),
        "localcontext": m["decimal"].localcontext(),
        "fraction": m["fractions"].Fraction(1, 3),
        "counter": m["collections"].Counter("abca"),
        "defaultdict": m["collections"].defaultdict(list, a=[1]),
        "ordereddict": m["collections"].OrderedDict(a=1),
        "deque": m["collections"].deque([1, 2]),
        "chainmap": m["collections"].ChainMap({"a": 1}, {}),
        "userdict": m["collections"].UserDict(a=1),
        "namedtuple": Point(1, 2),
        "partial": m["functools"].partial(max, 1),
        "lru_cache": cached,
        "wraps": wrapper,
        "cmp_key": m["functools"].cmp_to_key(lambda a, b: a - b)(1),
        "dataclass": Item("x", 1),
        "dataclass_fields": m["dataclasses"].fields(Item),
        "enum": Color.RED,
        "flag": m["re"].IGNORECASE | m["re"].MULTILINE,
        "generator": gen(),
        "genexp": (i for i in range(3)),
        "csv_reader": m["csv"].reader(buf),
        "csv_writer": m["csv"].writer(out),
        "dict_reader": m["csv"].DictReader(m["io"].StringIO("a\n1\n")),
        "dict_writer": m["csv"].DictWriter(out, ["a"]),
        "sniffer": m["csv"].Sniffer(),
        "stringio": buf,
        "bytesio": m["io"].BytesIO(b"x"),
        "md5": m["hashlib"].md5(b"x"),
        "sha256": m["hashlib"].sha256(),
        "blake2b": m["hashlib"].blake2b(),
        "shake": m["hashlib"].shake_128(),
        "hmac": m["hmac"].new(b"k", b"m", "sha256"),
        "uuid": m["uuid"].uuid4(),
        "random": m["random"].Random(1),
        "sysrandom": m["random"].SystemRandom(),
        "normaldist": m["statistics"].NormalDist(0, 1),
        "template": m["string"].Template("$x"),
        "formatter": m["string"].Formatter(),
        "textwrapper": m["textwrap"].TextWrapper(width=10),
        "seqmatcher": m["difflib"].SequenceMatcher(None, "abc", "abd"),
        "htmldiff": m["difflib"].HtmlDiff(),
        "textcalendar": m["calendar"].TextCalendar(),
        "json_encoder": m["json"].JSONEncoder(indent=2),
        "json_decoder": m["json"].JSONDecoder(),
        "typing_alias": m["typing"].Dict[str, "Item"],
        "typing_optional": m["typing"].Optional[m["typing"].List[int]],
        "typevar": m["typing"].TypeVar("T"),
        "ip_network": m["ipaddress"].ip_network("10.0.0.0/8"),
        "ip_interface": m["ipaddress"].ip_interface("10.0.0.1/8"),
        "struct": m["struct"].Struct("<i"),
        "array": m["array"].array("i", [1]),
        "compressobj": m["zlib"].compressobj(),
        "toposort": m["graphlib"].TopologicalSorter({"a": ["b"]}),
        "exitstack": m["contextlib"].ExitStack(),
        "contextmanager": cm(),
        "suppress": m["contextlib"].suppress(ValueError),
        "urlparse": m["urllib"].parse.urlparse("http://h/p?q=1"),
        "memoryview": memoryview(b"ab"),
        "property": property(lambda self: 1),
        "dict_items": {"a": 1}.items(),
        "map": map(str, [1]),
        "zip": zip([1], [2], strict=False),
        "range": range(3),
        "slice": slice(1, 2),
        "complex": 1 + 2j,
        "bytearray": bytearray(b"x"),
        "lambda": lambda: None,
        "super": super(Item, Item("y")),
    }


def test_facades_reach_no_module_frame_code_or_globals():
    assert modules.reachable_modules(max_depth=6) == []


def test_builtins_reach_nothing_forbidden():
    builtins = _sandbox_builtins()
    roots = {f"builtins[{k!r}]": v for k, v in builtins.items() if not k.startswith("_")}
    assert find_forbidden(roots, max_depth=5) == []


def test_library_instances_reach_nothing_forbidden():
    assert find_forbidden(_library_instances(), max_depth=5) == []


def test_the_walk_finds_what_it_must_refuse():
    """The walk is only a proof if it would notice a leak: plant some and look."""
    import re
    import sys

    planted = types.SimpleNamespace(mod=re, frame=sys._getframe(), code=(lambda: 0).__code__, g=globals())
    found = find_forbidden({"x": planted}, max_depth=2)
    assert {f.split(":")[0] for f in found} == {"x.mod", "x.frame", "x.code", "x.g"}


@pytest.mark.parametrize("name", sorted(ALLOWED_MODULES))
def test_every_allowed_name_imports_as_a_read_only_facade(name):
    top = safe_import(name)
    own = safe_import(name, fromlist=("x",))
    assert not isinstance(top, types.ModuleType) and not isinstance(own, types.ModuleType)
    assert own is facade(name)
    assert top is facade(name.partition(".")[0])
    with pytest.raises(AttributeError):
        own.injected = 1


@pytest.mark.parametrize("name", NEVER_ALLOWED)
def test_dangerous_modules_are_refused_with_the_allowlist_in_the_message(name):
    with pytest.raises(ImportError) as info:
        safe_import(name)
    assert f"module {name!r} is not allowed in the sandbox; allowed: " in str(info.value)
    assert "math" in str(info.value)


@pytest.mark.parametrize("name", sorted(ALLOWED_MODULES))
def test_facades_have_no_name_for_import_from_to_resolve(name):
    """``from json import decoder`` must not find ``sys.modules['json.decoder']`` through ``__name__``."""
    with pytest.raises(AttributeError):
        facade(name).__name__  # noqa: B018


def test_relative_and_dotted_imports():
    with pytest.raises(ImportError, match="relative"):
        safe_import("json", fromlist=("x",), level=1)
    assert safe_import("collections.abc").abc.Mapping is facade("collections.abc").Mapping
    assert safe_import("urllib.parse").parse.quote("a b") == "a%20b"
    with pytest.raises(ImportError):
        safe_import("collections.nope")
    with pytest.raises(ImportError):
        safe_import("os.path")


@pytest.mark.parametrize(
    "path",
    ["re.enum", "re.sre_compile", "json.codecs", "json.decoder", "datetime.sys", "typing.sys",
     "typing.ForwardRef", "functools.singledispatch", "enum.bltns",
     "dataclasses.builtins", "calendar.sys", "uuid.os", "contextlib.chdir", "collections.abc.sys"],
)
def test_gadgets_of_the_real_modules_are_absent(path):
    name, _, rest = path.partition(".")
    obj = facade(name)
    with pytest.raises(AttributeError):
        for part in rest.split("."):
            obj = getattr(obj, part)


@pytest.mark.parametrize("path", ["typing.get_type_hints", "dataclasses.make_dataclass", "dataclasses.dataclass",
                                  "contextlib.redirect_stdout", "contextlib.redirect_stderr"])
def test_string_evaluating_and_process_wide_helpers_are_the_sandbox_versions(path):
    import importlib

    name, _, attr = path.partition(".")
    assert getattr(facade(name), attr) is not getattr(importlib.import_module(name), attr)


def test_string_formatter_refuses_private_and_inspect_fields_but_formats_normally():
    fmt = facade("string").Formatter()
    assert fmt.format("{0:>5}|{name!r}|{0.real}|{1[0]}", 3, [7], name="x") == "    3|'x'|3|7"
    assert fmt.format("{} {}", "a", "b") == "a b"
    for bad in ("{0.__class__}", "{0.gi_frame}", "{0._x}", "{0.__globals__}"):
        with pytest.raises(AttributeError):
            fmt.format(bad, (i for i in ()))
    with pytest.raises(AttributeError):
        super(type(fmt), fmt).get_field  # noqa: B018 - the unguarded original must not be behind it
    assert modules.safe_format_map("{a.real}", {"a": 2}) == "2"


def test_functools_wraps_only_copies_the_default_names():
    ft = facade("functools")

    def f():
        pass

    class Box:
        pass

    with pytest.raises(ValueError):
        ft.wraps(f, assigned=("gi_frame",))
    with pytest.raises(ValueError):
        ft.update_wrapper(Box(), f, updated=("__globals__",))
    assert ft.wraps(f)(lambda: None).__name__ == "f"


def test_hashlib_new_only_knows_guaranteed_algorithms():
    h = facade("hashlib")
    assert h.new("sha256", b"x").hexdigest() == h.sha256(b"x").hexdigest()
    with pytest.raises(ValueError):
        h.new("ripemd160")


def test_pprint_and_calendar_print_through_the_output_hook():
    written: list[str] = []
    modules.set_output(written.append)
    try:
        facade("pprint").pprint({"b": 1, "a": [1, 2]})
        facade("calendar").prmonth(2024, 2)
    finally:
        modules.set_output(None)
    assert written[0] == "{'a': [1, 2], 'b': 1}\n"
    assert written[1].startswith("   February 2024")


def test_preload_warms_lazy_imports():
    import sys

    modules.preload()
    for name in ("_strptime", "encodings.utf_16", "encodings.idna", "unicodedata", "json.decoder"):
        assert name in sys.modules


def test_imports_c_code_makes_for_itself_pass_without_handing_anything_out():
    """``datetime.strptime`` imports ``_strptime`` through the sandbox's ``__import__``."""
    modules.preload()
    assert safe_import("_strptime", {}, {}, [], 0) is None
    assert safe_import("_strptime", {}, {}, ["__doc__"], 0) is None
    with pytest.raises(ImportError):
        safe_import("_strptime", {}, {}, ("__doc__",), 0)
    with pytest.raises(ImportError):
        safe_import("_strptime", {}, {}, None, 0)
