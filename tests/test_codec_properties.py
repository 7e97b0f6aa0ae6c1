"""Property tests: arbitrary nestings, shared references and cycles round-trip through the codec."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import fractions
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from envloop.sandbox.codec import Encoded, class_table, decode, encode, encode_chunks


@dataclasses.dataclass
class Box:
    content: Any
    label: str = ""


@dataclasses.dataclass(frozen=True)
class Key:
    a: int
    b: str


OWN = (Box, Key)
CLASSES = class_table(OWN)

hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=True),
    st.text(),
    st.binary(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones() | st.just(dt.timezone(dt.timedelta(hours=-2), "X"))),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=False, allow_infinity=True) | st.just(decimal.Decimal("NaN")),
    st.fractions(),
    st.builds(Key, st.integers(), st.text(max_size=5)),
)

hashables = st.recursive(
    hashable_leaves,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4),
    max_leaves=8,
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(hashables, children, max_size=5),
        st.sets(hashables, max_size=5),
        st.frozensets(hashables, max_size=5),
        st.builds(Box, children, st.text(max_size=3)),
    )


unhashable_leaves = st.builds(bytearray, st.binary(max_size=8)) | st.decimals(allow_nan=True)  # sNaN cannot be hashed
values = st.recursive(hashable_leaves | unhashable_leaves, containers, max_leaves=30)


def same(a: Any, b: Any, seen: dict[int, int] | None = None) -> bool:
    """Deep equality that treats NaNs as equal, checks types and -0.0, and tolerates cycles."""
    seen = {} if seen is None else seen
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, decimal.Decimal) and a.is_nan():
        return b.is_nan() and a.is_snan() == b.is_snan() and a.is_signed() == b.is_signed()
    if not isinstance(a, list | tuple | dict | set | frozenset | Box | bytearray):
        return bool(a == b)
    if id(a) in seen:  # containers keep their identity: shared stays shared, distinct stays distinct
        return seen[id(a)] == id(b)
    seen[id(a)] = id(b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        pairs = zip(a.items(), b.items(), strict=True) if len(a) == len(b) else None
        return pairs is not None and all(same(k, j, seen) and same(v, w, seen) for (k, v), (j, w) in pairs)
    if isinstance(a, Box):
        return a.label == b.label and same(a.content, b.content, seen)
    if isinstance(a, frozenset | set):  # members in different objects: NaN != NaN, so compare encodings
        return a == b or encode(a, own_classes=OWN).text == encode(b, own_classes=OWN).text  # type: ignore[union-attr]
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_nesting_round_trips_to_an_equal_value_and_the_same_text(value: Any) -> None:
    encoded = encode(value, own_classes=OWN)
    assert isinstance(encoded, Encoded), encoded
    back = decode(encoded.text, classes=CLASSES)
    assert same(value, back)
    again = encode(back, own_classes=OWN)
    assert again.text == encoded.text  # type: ignore[union-attr]


@settings(max_examples=150, deadline=None)
@given(values)
def test_tiny_chunks_round_trip_any_nesting(value: Any) -> None:
    encoded = encode_chunks(value, own_classes=OWN, chunk_items=2, chunk_chars=4)
    assert isinstance(encoded, Encoded), encoded
    back = decode(encoded.text, classes=CLASSES, chunks=encoded.chunks)
    assert same(value, back)
    again = encode_chunks(back, own_classes=OWN, chunk_items=2, chunk_chars=4)
    assert again.digest == encoded.digest  # type: ignore[union-attr]  # a restored value makes no new version


@st.composite
def graphs(draw: st.DrawFn) -> list[Any]:
    """A few lists, dicts, boxes and tuples wired to each other at random: shared references and cycles."""
    kinds = draw(st.lists(st.sampled_from(["list", "dict", "box"]), min_size=1, max_size=6))
    nodes: list[Any] = [[] if k == "list" else {} if k == "dict" else Box(None) for k in kinds]
    for _ in range(draw(st.integers(0, 12))):
        source = nodes[draw(st.integers(0, len(nodes) - 1))]
        target = nodes[draw(st.integers(0, len(nodes) - 1))]
        if draw(st.booleans()):
            target = (target, draw(st.integers(0, 3)))  # a tuple in the middle of a cycle
        if isinstance(source, list):
            source.append(target)
        elif isinstance(source, dict):
            source[len(source)] = target
        else:
            source.content = target
    return nodes


def shape(value: Any) -> list[Any]:
    """The identity structure of a graph: which slot holds which object, by first-seen number."""
    numbers: dict[int, int] = {}
    out: list[Any] = []
    stack = [value]
    while stack:
        x = stack.pop()
        if id(x) in numbers:
            out.append(("ref", numbers[id(x)]))
            continue
        numbers[id(x)] = len(numbers)
        out.append(type(x).__name__)
        if isinstance(x, dict):
            stack.extend(reversed(list(x.values())))
        elif isinstance(x, Box):
            stack.append(x.content)
        elif isinstance(x, list | tuple):
            stack.extend(reversed(x))
    return out


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_shared_references_and_cycles_keep_their_shape(nodes: list[Any]) -> None:
    encoded = encode(nodes, own_classes=OWN)
    assert isinstance(encoded, Encoded), encoded
    back = decode(encoded.text, classes=CLASSES)
    assert shape(back) == shape(nodes)
    chunky = encode_chunks(nodes, own_classes=OWN, chunk_items=2)
    assert shape(decode(chunky.text, classes=CLASSES, chunks=chunky.chunks)) == shape(nodes)  # type: ignore[union-attr]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers() | st.text(max_size=4) | st.tuples(st.integers(), st.text(max_size=2)), max_size=30),
    st.randoms(),
)
def test_sets_encode_the_same_whatever_order_they_were_built_in(members: list[Any], rnd: Any) -> None:
    shuffled = list(members)
    rnd.shuffle(shuffled)
    assert encode(set(members)).digest == encode(set(shuffled)).digest  # type: ignore[union-attr]
    assert encode(frozenset(members)).digest == encode(frozenset(reversed(shuffled))).digest  # type: ignore[union-attr]


def test_fractions_and_decimals_keep_exact_values() -> None:
    value = [fractions.Fraction(10**50 + 1, 3), decimal.Decimal("1e-999999"), decimal.Decimal("-sNaN12")]
    back = decode(encode(value).text)  # type: ignore[union-attr]
    assert back[0] == value[0] and str(back[1]) == str(value[1]) and str(back[2]) == "-sNaN12"
