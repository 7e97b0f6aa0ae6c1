"""The data-only value codec: every stored type round-trips, sharing and cycles survive, refusals say why."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import fractions
import json
import math
import re
import typing
import zoneinfo
from typing import Any

import pytest

from envloop.errors import EnvloopError
from envloop.sandbox.codec import DecodeError, Encoded, Unencodable, class_table, decode, encode


def roundtrip(value: object, own: tuple[type, ...] = ()) -> Any:
    """Encode, check it worked, decode through the JSON text (as the store would)."""
    encoded = encode(value, own_classes=own)
    assert isinstance(encoded, Encoded), encoded
    return decode(encoded.text, classes=class_table(own))


def refused(value: object, own: tuple[type, ...] = (), **kwargs: Any) -> Unencodable:
    result = encode(value, own_classes=own, **kwargs)
    assert isinstance(result, Unencodable), result
    return result


# ----------------------------------------------------------------- classes used below ---


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass(frozen=True)
class Frozen:
    name: str
    tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenSlots:
    a: int
    b: list[int]


class Slotted:
    __slots__ = ("a", "__hidden", "unset")

    def __init__(self, a: int, hidden: int) -> None:
        self.a = a
        self.__hidden = hidden

    def hidden(self) -> int:
        return self.__hidden


class NeedsArgs:
    made = 0

    def __init__(self, a: int, b: int) -> None:
        NeedsArgs.made += 1
        self.total = a + b


class Pair(typing.NamedTuple):
    left: int
    right: str = "r"


Coord = collections.namedtuple("Coord", "lat lon")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.Flag):
    R = 1
    W = 2


class Stack(list):  # type: ignore[type-arg]
    pass


class Registry(dict):  # type: ignore[type-arg]
    pass


class Tagged(Coord):  # a namedtuple subclass whose instances also have a __dict__
    pass


class Node:
    def __init__(self, value: int) -> None:
        self.value = value
        self.children: list[Node] = []
        self.parent: Node | None = None


class Boom(Exception):
    pass


OWN = (Point, Frozen, FrozenSlots, Slotted, NeedsArgs, Pair, Coord, Tagged, Color, Level, Perm, Stack, Registry, Node)


# ------------------------------------------------------------------------ scalar types ---

SCALARS = [
    None,
    True,
    False,
    0,
    -7,
    2**63 - 1,
    -(2**63) + 1,
    2**63,
    -(2**200),
    1.5,
    1e300,
    5e-324,
    math.inf,
    -math.inf,
    complex(1.5, -2),
    complex(math.inf, -0.0),
    "",
    "plain",
    "ünïcödé ✓ 😀",
    "lone surrogate \ud800",
    "x" * 1000,
    b"",
    b"\x00\xffbytes",
    bytes(range(256)) * 3,
    bytearray(b"mutable"),
    dt.date(2024, 2, 29),
    dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")),
    dt.time(23, 59, 59, 999999),
    dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    dt.timedelta(days=-3, seconds=7, microseconds=11),
    decimal.Decimal("3.1415926535897932384626433832795028841971"),
    decimal.Decimal("-0.000"),
    decimal.Decimal("Infinity"),
    decimal.Decimal("-Infinity"),
    fractions.Fraction(1, 3),
    fractions.Fraction(-(2**100), 7),
    range(0),
    range(-5, 10**30, 7),
]


@pytest.mark.parametrize("value", SCALARS, ids=lambda v: f"{type(v).__name__}:{str(v)[:20]}")
def test_every_scalar_type_comes_back_equal_and_of_the_same_type(value: object) -> None:
    back = roundtrip(value)
    assert type(back) is type(value)
    assert back == value


def test_floats_come_back_bit_exact_including_signed_zero_and_nan() -> None:
    nan, neg_nan, neg_zero = roundtrip([math.nan, -math.nan, -0.0])
    assert math.isnan(nan) and math.copysign(1, nan) == 1
    assert math.isnan(neg_nan) and math.copysign(1, neg_nan) == -1
    assert neg_zero == 0 and math.copysign(1, neg_zero) == -1
    assert math.copysign(1, roundtrip(complex(0.0, -0.0)).imag) == -1


def test_ints_far_beyond_the_decimal_digit_limit_round_trip() -> None:
    huge = 3**40000  # ~19,000 digits: str() of it would raise in Python 3.11
    assert roundtrip([huge, -huge]) == [huge, -huge]


def test_decimal_nan_keeps_its_kind() -> None:
    quiet, signalling = roundtrip([decimal.Decimal("NaN"), decimal.Decimal("sNaN")])
    assert quiet.is_qnan() and signalling.is_snan()


def test_datetime_fold_and_zoneinfo_survive() -> None:
    ambiguous = dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    back = roundtrip(ambiguous)
    assert back.fold == 1 and back.tzinfo == zoneinfo.ZoneInfo("America/New_York")
    assert back.utcoffset() == ambiguous.utcoffset()


def test_compiled_regex_is_stored_as_pattern_and_flags() -> None:
    back = roundtrip([re.compile(r"(\w+)@(\w+)", re.IGNORECASE | re.MULTILINE), re.compile(rb"\x00+")])
    assert back[0].pattern == r"(\w+)@(\w+)" and back[0].flags & re.IGNORECASE and back[0].flags & re.MULTILINE
    assert back[0].match("Ann@Host").groups() == ("Ann", "Host")
    assert back[1].pattern == rb"\x00+"


def test_library_containers_keep_their_type_and_behaviour() -> None:
    counts = collections.Counter("mississippi")
    ordered = collections.OrderedDict([("b", 1), ("a", 2)])
    ordered.move_to_end("b")
    groups = collections.defaultdict(list, {"x": [1]})
    window = collections.deque([1, 2, 3], maxlen=3)
    back = roundtrip([counts, ordered, groups, window, collections.defaultdict(None)])
    assert back[0] == counts and type(back[0]) is collections.Counter
    assert list(back[1]) == ["a", "b"] and type(back[1]) is collections.OrderedDict
    back[2]["new"].append(1)
    assert back[2] == {"x": [1], "new": [1]}
    back[3].append(4)
    assert list(back[3]) == [2, 3, 4]
    assert back[4].default_factory is None


# -------------------------------------------------------------------- containers ---


def test_dicts_keep_insertion_order_and_accept_any_hashable_key() -> None:
    value = {
        (1, "a"): "tuple key",
        frozenset({1, 2}): "frozenset key",
        None: "none",
        2.5: "float",
        b"k": "bytes",
        Color.RED: "enum",
        "z": 1,
        "a": 2,
    }
    back = roundtrip(value, OWN)
    assert back == value
    assert list(back) == list(value)


def test_nested_containers_round_trip() -> None:
    value = {"rows": [(1, "a", {2.5, 3}), (2, "b", frozenset())], "empty": [[], (), {}, set()], "t": (1,)}
    assert roundtrip(value) == value


def test_sets_of_mixed_types_round_trip() -> None:
    value = {1, "one", 2.5, None, (1, 2), frozenset({"x"}), b"b"}
    assert roundtrip(value) == value


# ---------------------------------------------------------------- sharing and cycles ---


def test_the_same_object_twice_comes_back_as_one_object_twice() -> None:
    inner = [1, 2]
    text = "t" * 300
    tup = (inner, "x")
    back = roundtrip({"a": inner, "b": inner, "c": tup, "d": tup, "e": text, "f": text})
    assert back["a"] is back["b"]
    assert back["c"] is back["d"] and back["c"][0] is back["a"]
    assert back["e"] is back["f"]
    back["a"].append(3)
    assert back["b"] == [1, 2, 3]


def test_equal_but_distinct_objects_stay_distinct() -> None:
    back = roundtrip([[1], [1]])
    assert back[0] == back[1] and back[0] is not back[1]


def test_a_list_and_a_dict_containing_themselves() -> None:
    xs: list[Any] = [1]
    xs.append(xs)
    d: dict[str, Any] = {}
    d["self"] = d
    back_xs, back_d = roundtrip([xs, d])
    assert back_xs[1] is back_xs and back_xs[0] == 1
    assert back_d["self"] is back_d


def test_a_tuple_reached_again_through_a_list_inside_it() -> None:
    holder: list[Any] = []
    tup = (holder, "payload")
    holder.append(tup)
    back = roundtrip({"tuple": tup, "list": holder})
    assert back["tuple"][0] is back["list"]
    assert back["list"][0] is back["tuple"]


def test_a_frozenset_whose_member_points_back_at_it() -> None:
    node = Node(1)
    group = frozenset({node})
    node.parent = group  # type: ignore[assignment]
    back = roundtrip([group, node], OWN)
    (member,) = back[0]
    assert member is back[1] and member.parent is back[0]


def test_object_graphs_with_parent_links() -> None:
    root = Node(0)
    for i in range(1, 4):
        child = Node(i)
        child.parent = root
        root.children.append(child)
    back = roundtrip(root, OWN)
    assert [c.value for c in back.children] == [1, 2, 3]
    assert all(c.parent is back for c in back.children)


def test_very_deep_values_round_trip_without_recursion_errors() -> None:
    head = Node(0)
    current = head
    for i in range(1, 20_000):
        current.children.append(Node(i))
        current = current.children[0]
    nested: list[Any] = []
    cursor = nested
    for _ in range(50_000):
        cursor.append([])
        cursor = cursor[0]
    back_head, back_nested = roundtrip([head, nested], OWN)
    depth = 0
    while back_head.children:
        back_head, depth = back_head.children[0], depth + 1
    assert depth == 19_999 and back_head.value == 19_999
    depth = 0
    while back_nested:
        back_nested, depth = back_nested[0], depth + 1
    assert depth == 50_000


# ------------------------------------------------------------------- own classes ---


def test_plain_and_dataclass_instances_round_trip() -> None:
    assert roundtrip([Point(1, 2), Frozen("f", ("a",))], OWN) == [Point(1, 2), Frozen("f", ("a",))]


def test_decoding_never_runs_the_class_init_new_or_setattr() -> None:
    made = NeedsArgs(1, 2)
    before = NeedsArgs.made
    back = roundtrip(made, OWN)
    assert NeedsArgs.made == before and back.total == 3 and type(back) is NeedsArgs
    frozen = roundtrip(FrozenSlots(1, [2]), OWN)  # frozen + slots: setattr would raise
    assert frozen == FrozenSlots(1, [2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.a = 5  # type: ignore[misc]


def test_slots_including_private_names_and_unset_slots() -> None:
    back = roundtrip(Slotted(1, 42), OWN)
    assert back.a == 1 and back.hidden() == 42
    assert not hasattr(back, "unset")


def test_named_tuples_of_both_kinds() -> None:
    back = roundtrip([Pair(1), Coord(1.5, 2.5)], OWN)
    assert back == [Pair(1, "r"), Coord(1.5, 2.5)]
    assert type(back[0]) is Pair and back[0].right == "r"
    assert type(back[1]) is Coord and back[1].lon == 2.5


def test_a_namedtuple_subclass_keeps_its_extra_attributes_but_not_a_loop_to_itself() -> None:
    tagged = Tagged(1, 2)
    tagged.note = [tagged]  # type: ignore[attr-defined]  # a cycle through a list is fine
    back = roundtrip(tagged, OWN)
    assert type(back) is Tagged and back == (1, 2) and back.note[0] is back
    tagged.note = tagged  # type: ignore[attr-defined]  # directly itself: nothing mutable to close the loop on
    assert "contains itself" in refused(tagged, OWN).reason


def test_enum_members_come_back_as_the_same_members() -> None:
    back = roundtrip([Color.GREEN, Level.HIGH, Perm.R, Perm.R | Perm.W], OWN)
    assert back[0] is Color.GREEN and back[1] is Level.HIGH and back[2] is Perm.R
    assert back[3] == Perm.R | Perm.W


def test_subclasses_of_list_and_dict_keep_items_and_attributes() -> None:
    stack = Stack([1, 2])
    stack.label = "s"  # type: ignore[attr-defined]
    registry = Registry(a=1)
    registry.owner = stack  # type: ignore[attr-defined]
    back = roundtrip([stack, registry], OWN)
    assert type(back[0]) is Stack and back[0] == [1, 2] and back[0].label == "s"
    assert type(back[1]) is Registry and back[1] == {"a": 1} and back[1].owner is back[0]


def test_set_subclasses_and_stateless_library_bases() -> None:
    T = typing.TypeVar("T")

    class Tags(set):  # type: ignore[type-arg]
        pass

    class Frozen2(frozenset):  # type: ignore[type-arg]
        pass

    class Holder(typing.Generic[T]):
        def __init__(self, item: T) -> None:
            self.item = item

    own = (Tags, Frozen2, Holder)
    tags = Tags({"b", "a"})
    tags.owner = "me"  # type: ignore[attr-defined]
    back = roundtrip([tags, Frozen2({1, 2}), Holder([1])], own)
    assert type(back[0]) is Tags and back[0] == {"a", "b"} and back[0].owner == "me"
    assert type(back[1]) is Frozen2 and back[1] == {1, 2}
    assert type(back[2]) is Holder and back[2].item == [1]


def test_encoding_calls_none_of_the_values_own_methods() -> None:
    calls: list[str] = []

    class Spy:
        def __init__(self) -> None:
            self.value = 1

        def __getattribute__(self, name: str) -> Any:
            calls.append(name)
            return object.__getattribute__(self, name)

        def __eq__(self, other: object) -> bool:
            calls.append("__eq__")
            return True

        def __hash__(self) -> int:
            calls.append("__hash__")
            return 1

        def __repr__(self) -> str:
            calls.append("__repr__")
            return "spy"

    class SpyList(list):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            calls.append("__iter__")
            return iter([])

        def __len__(self) -> int:
            calls.append("__len__")
            return 0

    spy, spies = Spy(), SpyList([1, 2])
    value = {"spy": spy, "list": spies, "as key": {spy: 1}, "member": {spy, 2}}
    calls.clear()
    encoded = encode(value, own_classes=(Spy, SpyList))
    assert calls == []
    assert isinstance(encoded, Encoded) and "Spy(value=1)" in encoded.preview  # built from fields, not repr()
    back = decode(encoded.text, classes=class_table((Spy, SpyList)))
    assert list.__len__(back["list"]) == 2


def test_an_unknown_class_at_decode_is_a_clear_error() -> None:
    text = encode(Point(1, 2), own_classes=OWN).text  # type: ignore[union-attr]
    with pytest.raises(DecodeError, match="Point") as caught:
        decode(text, classes={})
    assert isinstance(caught.value, EnvloopError)


def test_a_class_redefined_with_another_base_is_a_clear_error() -> None:
    text = encode(Stack([1]), own_classes=OWN).text  # type: ignore[union-attr]

    class Stack2:  # the conversation redefined Stack without the list base
        pass

    with pytest.raises(DecodeError, match="Stack"):
        decode(text, classes={"Stack": Stack2})


def test_a_redefined_class_gets_its_old_instances() -> None:
    text = encode(Point(1, 2), own_classes=OWN).text  # type: ignore[union-attr]

    @dataclasses.dataclass
    class Point2:
        x: int
        y: int

        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

    assert decode(text, classes={"Point": Point2}).norm() == 3


# -------------------------------------------------------------------- refusals ---


def _gen() -> Any:
    yield 1


def test_functions_classes_and_modules_are_routed_by_kind() -> None:
    assert refused(lambda: 1).kind == "function"
    assert refused(len).kind == "function"
    assert refused(Point).kind == "class"
    assert refused(math).kind == "module"
    assert "written in this conversation" in refused(_gen).reason  # outside a worker: refused, saying what is kept


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (_gen(), "generator objects cannot be stored"),
        (open(__file__), "open files cannot be stored"),  # noqa: SIM115 (the value under test)
        (object(), "library type object"),
        (re.match("a", "a"), "library type re.Match"),
        (Point(1, 2), "library type"),  # not passed as an own class
        (collections.defaultdict(lambda: 0), "default_factory"),
        (dt.datetime(2024, 1, 1, tzinfo=dt.tzinfo()), "tzinfo"),
    ],
    ids=["generator", "file", "object", "match", "foreign class", "lambda factory", "custom tzinfo"],
)
def test_unencodable_values_say_why(value: object, words: str) -> None:
    result = refused(value)
    assert words in result.reason
    assert result.ok is False and result.preview.startswith("<")
    if hasattr(value, "close"):
        value.close()  # type: ignore[attr-defined]


def test_instances_with_state_the_codec_cannot_see_are_refused() -> None:
    result = refused(Boom("x"), (Boom,))
    assert "inherits from Exception" in result.reason


def test_a_refusal_says_where_inside_the_value() -> None:
    result = refused({"rows": [1, 2, Point(1, _gen())]}, OWN)
    assert result.path == "['rows'][2].y"
    assert result.describe("data") == "data['rows'][2].y: " + result.reason
    assert result.type_name == "dict"


def test_a_value_over_the_limit_is_refused_cleanly() -> None:
    result = refused(list(range(100_000)), limit_bytes=10_000)
    assert "too large" in result.reason
    assert "too large" in refused("x" * 20_000, limit_bytes=10_000).reason
    big = "y" * 255  # short strings are not shared, so repetition counts
    assert "too large" in refused([big] * 1000, limit_bytes=100_000).reason


# --------------------------------------------------------------- canonical text ---


def test_the_same_value_encodes_to_the_same_text_and_digest() -> None:
    value = {"a": [1, 2.5, {3}], "p": Point(1, 2), (1, 2): frozenset({"x", "y"})}
    first, second = encode(value, own_classes=OWN), encode(value, own_classes=OWN)
    assert first.text == second.text and first.digest == second.digest  # type: ignore[union-attr]
    again = encode(roundtrip(value, OWN), own_classes=OWN)
    assert again.digest == first.digest  # type: ignore[union-attr]


def test_sets_built_in_different_orders_encode_alike() -> None:
    words = [f"w{i}" for i in range(200)]
    forward, backward = set(words), set(reversed(words))
    assert encode(forward).digest == encode(backward).digest  # type: ignore[union-attr]
    mixed_a = {1, "a", (2, "b"), 3.5, None, Frozen("q"), Frozen("p")}
    mixed_b = {Frozen("p"), None, 3.5, (2, "b"), "a", 1, Frozen("q")}
    digest_a = encode(mixed_a, own_classes=OWN).digest  # type: ignore[union-attr]
    assert digest_a == encode(mixed_b, own_classes=OWN).digest  # type: ignore[union-attr]


def test_dict_order_and_any_change_make_a_different_digest() -> None:
    base = encode({"a": 1, "b": 2}).digest  # type: ignore[union-attr]
    assert encode({"b": 2, "a": 1}).digest != base  # type: ignore[union-attr]
    assert encode({"a": 1, "b": 3}).digest != base  # type: ignore[union-attr]
    assert encode([1]).digest != encode([1.0]).digest != encode([True]).digest  # type: ignore[union-attr]


def test_encoded_carries_type_size_and_a_capped_preview() -> None:
    encoded = encode({"points": [Point(i, i) for i in range(1000)]}, own_classes=OWN)
    assert isinstance(encoded, Encoded)
    assert encoded.type_name == "dict" and encoded.size == len(encoded.text.encode())
    assert encoded.preview.startswith("{'points': [Point(x=0, y=0), Point(x=1, y=1)")
    assert len(encoded.preview) <= 200 and encoded.preview.endswith("…")
    assert encode(Pair(1), own_classes=OWN).type_name == "Pair"  # type: ignore[union-attr]
    assert encode(decimal.Decimal(1)).type_name == "decimal.Decimal"  # type: ignore[union-attr]


def test_previews_render_library_values_and_cycles_like_python() -> None:
    xs: list[Any] = [1]
    xs.append(xs)
    assert encode(xs).preview == "[1, …]"  # type: ignore[union-attr]
    assert encode((1,)).preview == "(1,)"  # type: ignore[union-attr]
    assert encode(set()).preview == "set()"  # type: ignore[union-attr]
    assert encode([dt.date(2024, 1, 2)]).preview == "[datetime.date(2024, 1, 2)]"  # type: ignore[union-attr]
    assert encode(Color.RED, own_classes=OWN).preview == "Color.RED"  # type: ignore[union-attr]


# ------------------------------------------------------------------------ format ---


def test_the_text_is_a_versioned_json_envelope() -> None:
    encoded = encode([1, "a"])
    assert isinstance(encoded, Encoded)
    assert json.loads(encoded.text) == encoded.data == {"v": 1, "root": ["l", 1, "a"]}
    assert decode(encoded.data) == [1, "a"]


@pytest.mark.parametrize(
    "bad",
    ['{"v": 2, "root": 1}', "[1]", "not json", '{"v": 1, "root": ["nope", 1]}', '{"v": 1, "root": ["r", 5]}'],
)
def test_unreadable_data_is_a_decode_error(bad: str) -> None:
    with pytest.raises(DecodeError):
        decode(bad)
