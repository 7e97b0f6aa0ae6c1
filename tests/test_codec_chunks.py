"""Chunked encoding: a small change to a huge value adds only a few small chunks to the store."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from envloop.sandbox.codec import DecodeError, Encoded, decode, encode, encode_chunks


def chunked(value: object, **kwargs: Any) -> Encoded:
    result = encode_chunks(value, **kwargs)
    assert isinstance(result, Encoded), result
    return result


def new_bytes(before: Encoded, after: Encoded) -> int:
    """What the store writes for ``after`` when ``before`` is already stored: the root plus unseen chunks."""
    fresh = [text for digest, text in after.chunks.items() if digest not in before.chunks]
    return len(after.text.encode()) + sum(len(text.encode()) for text in fresh)


def test_appending_to_a_list_of_100000_ints_adds_one_small_chunk() -> None:
    xs = list(range(100_000))
    before = chunked(xs)
    xs.append(100_000)
    after = chunked(xs)
    assert decode(after.text, chunks=after.chunks) == xs
    assert len(set(after.chunks) - set(before.chunks)) == 1
    added = new_bytes(before, after)
    whole = len(encode(xs).text)  # type: ignore[union-attr]
    assert added < whole / 20, (added, whole)


def test_editing_one_item_of_a_large_dict_changes_one_chunk() -> None:
    table = {f"key{i}": [i, str(i)] for i in range(20_000)}
    before = chunked(table)
    table["key12345"][0] = -1
    after = chunked(table)
    assert len(set(after.chunks) - set(before.chunks)) == 1
    assert decode(after.text, chunks=after.chunks) == table


def test_chunked_values_round_trip_with_sharing_inside_chunks() -> None:
    shared = [0]
    value: list[Any] = [shared if i % 7 == 0 else (i, str(i)) for i in range(5000)]
    value.append(value)
    result = chunked(value, chunk_items=64)
    back = decode(result.text, chunks=result.chunks.__getitem__)
    assert back[0] is back[7] and back[-1] is back
    assert back[1] == (1, "1") and len(back) == 5001


def test_long_strings_and_bytes_are_chunked_and_shared() -> None:
    text = "".join(chr(0x41 + i % 50) for i in range(300_000))
    data = bytes(range(256)) * 1000
    result = chunked([text, data, text, data], chunk_chars=10_000)
    assert len(result.text) < 10_000 and len(result.chunks) > 30
    back = decode(result.text, chunks=result.chunks)
    assert back == [text, data, text, data]
    assert back[0] is back[2] and back[1] is back[3]


def test_deep_values_chunk_their_out_of_line_parts() -> None:
    head: list[Any] = []
    cursor = head
    for _ in range(100_000):
        cursor.append([])
        cursor = cursor[0]
    result = chunked(head)
    back = decode(result.text, chunks=result.chunks)
    depth = 0
    while back:
        back, depth = back[0], depth + 1
    assert depth == 100_000


def test_a_small_value_makes_no_chunks_and_the_same_text() -> None:
    result = chunked({"a": [1, 2, 3]})
    assert result.chunks == {} and result.text == encode({"a": [1, 2, 3]}).text  # type: ignore[union-attr]


def test_the_chunked_root_digest_is_canonical() -> None:
    assert chunked(list(range(10_000))).digest == chunked(list(range(10_000))).digest
    assert chunked(list(range(10_000))).digest != chunked(list(range(10_001))).digest


def test_size_counts_the_root_and_every_chunk() -> None:
    result = chunked(list(range(5000)))
    assert result.size == len(result.text) + sum(len(t) for t in result.chunks.values())


def test_a_missing_or_corrupt_chunk_is_a_clear_error() -> None:
    result = chunked(list(range(5000)))
    digest = next(iter(result.chunks))
    with pytest.raises(DecodeError, match="missing"):
        decode(result.text, chunks={})
    with pytest.raises(DecodeError, match="corrupt"):
        decode(result.text, chunks={**result.chunks, digest: "[1,2,3]"})
    with pytest.raises(DecodeError, match="chunks="):
        decode(result.text)


def test_set_and_string_digests_do_not_depend_on_the_hash_seed() -> None:
    """Sets iterate in hash order, which changes with PYTHONHASHSEED; the encoding must not."""
    code = (
        "from envloop.sandbox.codec import encode\n"
        "v = {'s': {f'w{i}' for i in range(500)}, 'f': frozenset({('a', 1), ('b', 2), 'c', 3.5}),"
        " 'k': {frozenset({'x', 'y'}): 1}}\n"
        "print(encode(v).digest)"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": seed}, check=True
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1
