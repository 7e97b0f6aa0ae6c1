"""Reply parsing: what runs and what stays as the model's thinking, for replies real models send."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envloop.llm import ParsedReply, parse_reply
from envloop.llm.parsing import _parse

CASES = {
    "python tag": (
        "Let me compute.\n```python\nx = 1 + 1\nprint(x)\n```\nDone.",
        ["x = 1 + 1\nprint(x)"],
        "Let me compute.\n\nDone.",
    ),
    "py tag": ("```py\nx = 1\n```", ["x = 1"], ""),
    "Python3 tag, any case": ("```Python3\nx = 1\n```", ["x = 1"], ""),
    "tag with attributes": ('```python title="demo.py"\nx = 1\n```', ["x = 1"], ""),
    "braced tag": ("```{python}\nx = 1\n```", ["x = 1"], ""),
    "no tag runs as python": ("Here:\n```\nx = 1\n```", ["x = 1"], "Here:"),
    "unknown tag runs as python": ("```pyodide\nx = 1\n```", ["x = 1"], ""),
    "json is not run": (
        'The data:\n```json\n{"a": 1}\n```\n```python\nd = {"a": 1}\n```',
        ['d = {"a": 1}'],
        'The data:\n```json\n{"a": 1}\n```',
    ),
    "text, bash and output are not run": (
        "```text\nhello\n```\n```bash\nls -la\n```\n```output\n42\n```",
        [],
        "```text\nhello\n```\n```bash\nls -la\n```\n```output\n42\n```",
    ),
    "tilde fence": ("~~~python\nx = 1\n~~~", ["x = 1"], ""),
    "tilde fence not closed by backticks": ("~~~\nx = 1\n```\ny = 2\n~~~", ["x = 1\n```\ny = 2"], ""),
    "unclosed last fence runs to the end": (
        "First.\n```python\nx = 1\n```\nThen:\n```python\ny = x + 1\nanswer(y)",
        ["x = 1", "y = x + 1\nanswer(y)"],
        "First.\n\nThen:",
    ),
    "several blocks in order": (
        "```python\na = 1\n```\nand\n```python\nb = 2\n```\nand\n```python\nc = 3\n```",
        ["a = 1", "b = 2", "c = 3"],
        "and\n\nand",
    ),
    "prose only is all thinking": ("The answer is 42.", [], "The answer is 42."),
    "empty reply": ("", [], ""),
    "whitespace reply": ("  \n\t\n ", [], ""),
    "non-ascii": (
        "Calculons « vite » 🚀\n```python\nnom = 'Zoë 日本'\nprint(nom)\n```",
        ["nom = 'Zoë 日本'\nprint(nom)"],
        "Calculons « vite » 🚀",
    ),
    "indented fence in a numbered list": (
        "1. Define it:\n   ```python\n   def f(n):\n       return n * 2\n   ```\n2. Use it.",
        ["def f(n):\n    return n * 2"],
        "1. Define it:\n\n2. Use it.",
    ),
    "fence on a bullet line": ("- ```python\n  x = 1\n  ```", ["x = 1"], ""),
    "crlf line endings": ("Hi\r\n```python\r\nx = 1\r\ny = 2\r\n```\r\nBye", ["x = 1\ny = 2"], "Hi\n\nBye"),
    "four-backtick fence holds a three-backtick line": (
        "````python\ndoc = '''\n```\n'''\n````\nok",
        ["doc = '''\n```\n'''"],
        "ok",
    ),
    "four-backtick markdown fence is not run, nor the python inside": (
        "````markdown\n```python\nx = 1\n```\n````",
        [],
        "````markdown\n```python\nx = 1\n```\n````",
    ),
    "blank block dropped": ("```python\n\n```\nNothing to run.", [], "Nothing to run."),
    "closing fence glued to the last code line": ("```python\nx = 1```\nDone.", ["x = 1"], "Done."),
    "inline triple backticks are prose": ("Use ```x``` here.", [], "Use ```x``` here."),
    "think section is thinking, its code is not run": (
        "<think>\nmaybe\n```python\ndraft()\n```\n</think>\nNow:\n```python\nrun()\n```",
        ["run()"],
        "maybe\n```python\ndraft()\n```\n\nNow:",
    ),
    "blank lines inside code are kept": ("```python\na = 1\n\nb = 2\n```", ["a = 1\n\nb = 2"], ""),
}


@pytest.mark.parametrize("reply, blocks, thinking", CASES.values(), ids=list(CASES))
def test_parse_reply_cases(reply: str, blocks: list[str], thinking: str) -> None:
    parsed = parse_reply(reply)
    assert parsed.blocks == blocks
    assert parsed.thinking == thinking


def test_parsed_reply_is_a_frozen_value() -> None:
    parsed = parse_reply("hi\n```python\nx = 1\n```")
    assert parsed == ParsedReply("hi", ["x = 1"])
    with pytest.raises(AttributeError):
        parsed.thinking = "changed"  # type: ignore[misc]


def test_non_string_reply_does_not_raise() -> None:
    assert parse_reply(None) == ParsedReply("", [])  # type: ignore[arg-type]


# -- property-based: random replies built from the pieces models use -------------------

_FENCES = st.sampled_from(["```", "````", "~~~", "~~~~", "``", "`````"])
_TAGS = st.sampled_from(
    ["", "python", "py", "Python3", "PYTHON", "json", "text", "bash", "output", "{python}", "python x=1",
     "`", "md", "pycon", "  python  ", "日本"]
)
_PROSE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(["`", "~", " ", "\t", "\r", "\n"]),
    max_size=40,
)
_INDENT = st.sampled_from(["", " ", "   ", "\t", "- ", "1. ", "    "])
_CODE = st.sampled_from(["x = 1", "def f():", "    return 2", "print('é')", "s = '```'", "y = 2```"])
_NEWLINE = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def replies(draw: st.DrawFn) -> str:
    """Prose, fences with tags (closed or not), code, think tags, glued together with mixed newlines."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["prose", "open", "close", "code", "think"]))
        if kind == "prose":
            parts.append(draw(_PROSE))
        elif kind == "open":
            parts.append(draw(_INDENT) + draw(_FENCES) + draw(_TAGS))
        elif kind == "close":
            parts.append(draw(_INDENT) + draw(_FENCES))
        elif kind == "code":
            parts.append(draw(_INDENT) + draw(_CODE))
        else:
            parts.append(draw(st.sampled_from(["<think>", "</think>", "<thinking>"])))
    out = ""
    for part in parts:
        out += part + draw(_NEWLINE)
    return out


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check(reply: str, parsed: ParsedReply) -> None:
    assert isinstance(parsed.thinking, str) and isinstance(parsed.blocks, list)
    assert parsed.thinking == parsed.thinking.strip()
    source_lines = _normalised(reply).split("\n")
    for block in parsed.blocks:
        assert isinstance(block, str) and block.strip()
        for line in block.split("\n"):
            # a block line is an input line with some leading whitespace (or a glued fence) taken off
            assert any(line in source for source in source_lines), (line, reply)


@settings(max_examples=600, deadline=None)
@given(replies())
def test_structured_fuzz_never_raises_and_blocks_come_from_the_input(reply: str) -> None:
    parsed = _parse(reply)  # the parser itself, not the catch-all wrapper
    _check(reply, parsed)
    assert parse_reply(reply) == parsed


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(reply: str) -> None:
    _check(reply, _parse(reply))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="`~<")))
def test_text_without_fences_is_all_thinking(reply: str) -> None:
    parsed = _parse(reply)
    assert parsed.blocks == []
    assert parsed.thinking.split() == _normalised(reply).split()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="`~\r\n", blacklist_categories=("Cs",)),
                        min_size=1).filter(str.strip), min_size=1, max_size=4))
def test_unindented_python_blocks_come_back_verbatim(codes: list[str]) -> None:
    codes = [c.strip() for c in codes]
    reply = "Plan.\n" + "\nthen\n".join(f"```python\n{c}\n```" for c in codes)
    assert _parse(reply).blocks == codes
