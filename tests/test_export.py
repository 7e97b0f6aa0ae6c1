"""``envloop export``: a conversation as a notebook nbformat validates, a script that compiles, Markdown.

Direct runs, an error, a rollback and an undo go through the real CLI; LLM
turns are written straight into the database with the models, as the engine
would store them, so these tests need no model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import func, select

from envloop.export import export_conversation
from envloop.store.db import Database, open_database
from envloop.store.models import Block, Conversation, Iteration, Query


def _db_path(data_home: Path) -> Path:
    return data_home / "envloop" / "envloop.db"


def _add_turn(database: Database, conversation_id: int, *, text: str, iterations: list[dict], answer: str | None,
              status: str = "done", error: str | None = None) -> None:
    """Store an LLM turn as the engine does: a Query, its Iterations, their llm Blocks."""
    with database.session(write=True) as session:
        last = session.scalar(select(func.max(Query.position)).where(Query.conversation_id == conversation_id))
        query = Query(conversation_id=conversation_id, position=(last or 0) + 1, kind="turn", text=text,
                      status=status, answer=answer, error=error, model="replay:demo.json",
                      iteration_count=len(iterations))
        session.add(query)
        session.flush()
        for n, spec in enumerate(iterations, 1):
            it = Iteration(query_id=query.id, position=n, prompt=text, raw_reply=spec.get("thinking"),
                           thinking=spec.get("thinking"), error=spec.get("error"))
            session.add(it)
            session.flush()
            for k, block in enumerate(spec.get("blocks", [])):
                session.add(Block(conversation_id=conversation_id, query_id=query.id, iteration_id=it.id,
                                  position=k, author="llm", **block))


LLM_TURN = {
    "text": "Double x with a function, please.",
    "answer": "double(x) is **2**.",
    "iterations": [
        {"thinking": "First I look at `x`.", "blocks": [{"source": "print('x is', x)", "stdout": "x is 1\n"}]},
        {
            "thinking": "Now a function that doubles.",
            "blocks": [
                {"source": "def double(v):\n    return v * 2\ndouble(x)", "result_preview": "2"},
                {"source": "double(y)", "error_type": "NameError", "error_message": "name 'y' is not defined",
                 "error_line": 1},
            ],
        },
    ],
}


@pytest.fixture
def conversation(run_cli, data_home: Path) -> Path:
    """Conversation 1: runs, an error, a rollback and an undo through the CLI, then an LLM turn; its db path."""
    steps = [
        ("run", "--new", "x = 1"),
        ("run", "x = 5\nprint(x + 1)"),
        ("run", "x * 2"),
        ("run", "raise ValueError('bad value')"),
        ("rollback", "x", "1"),
        ("undo",),
    ]
    for args in steps:
        done = run_cli(*args)
        assert done.returncode == (1 if "raise" in args[-1] else 0), (args, done.stdout, done.stderr)
    database = open_database(str(_db_path(data_home)))
    try:
        _add_turn(database, 1, **LLM_TURN)
    finally:
        database.dispose()
    return _db_path(data_home)


def _outputs(cell: dict) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for out in cell["outputs"]:
        grouped.setdefault(out["output_type"], []).append(out)
    return grouped


def _fences_balanced(md: str) -> bool:
    """Every opening fence line is closed by a bare fence of the same length."""
    open_fence = None
    for line in md.splitlines():
        run = re.match(r"`{3,}", line)
        if open_fence is None and run:
            open_fence = run.group()
        elif open_fence is not None and line == open_fence:
            open_fence = None
    return open_fence is None


def test_notebook_validates_and_shows_code_outputs_errors_and_answers(run_cli, conversation: Path) -> None:
    done = run_cli("export", "--format", "ipynb")
    assert done.returncode == 0, done.stderr
    nb = nbformat.reads(done.stdout, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.language_info.name == "python"
    code = [c for c in nb.cells if c.cell_type == "code"]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert [c.source for c in code] == [
        "x = 1", "x = 5\nprint(x + 1)", "x * 2", "raise ValueError('bad value')",
        "print('x is', x)", "def double(v):\n    return v * 2\ndouble(x)", "double(y)",
    ]
    assert [c.execution_count for c in code] == list(range(1, 8))
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert _outputs(code[0]) == {}
    assert _outputs(code[1])["stream"][0]["text"] == "6\n"
    result = _outputs(code[2])["execute_result"][0]
    assert result["data"]["text/plain"] == "10" and result["execution_count"] == 3
    error = _outputs(code[3])["error"][0]
    assert (error["ename"], error["evalue"]) == ("ValueError", "bad value")
    assert _outputs(code[4])["stream"][0]["text"] == "x is 1\n"
    assert _outputs(code[6])["error"][0]["ename"] == "NameError"
    assert code[5].metadata["envloop"] == {"turn": 7, "author": "llm", "iteration": 2}
    for words in ("rollback x to v1", "undo turn 5", "Double x with a function, please.",
                  "First I look at `x`.", "Now a function that doubles.", "double(x) is **2**."):
        assert words in markdown
    assert markdown.index("Now a function") < markdown.index("double(x) is")


def test_script_compiles_and_keeps_outputs_as_comments(run_cli, conversation: Path, tmp_path: Path) -> None:
    target = tmp_path / "conv.py"
    done = run_cli("export", "-o", str(target))
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.strip() == f"wrote conversation 1 as py to {target}"
    script = target.read_text(encoding="utf-8")
    compile(script, str(target), "exec")
    lines = script.splitlines()
    assert lines[0].startswith("# envloop Conversation 1")
    for expected in ("x = 5", "print(x + 1)", "# >>> 6", "# >>> Out: 10", "# >>> ValueError (line 1): bad value",
                     "def double(v):", "# >>> x is 1", "# >>> Out: 2", "# Answer: double(x) is **2**.",
                     "# You: Double x with a function, please.", "# Rollback: rollback x to v1 — x v3 (= v1)",
                     "# Undo: undo turn 5 (rollback) — x v4 (= v2)"):
        assert expected in lines, expected
    assert sum(line.startswith("# %% Turn ") for line in lines) == 7


def test_markdown_to_stdout_has_headings_fences_outputs_and_answer(run_cli, conversation: Path) -> None:
    done = run_cli("export")
    assert done.returncode == 0 and done.stderr == ""
    md = done.stdout
    assert md.startswith("# Conversation 1: x = 1\n")
    assert len(re.findall(r"^## Turn \d+", md, flags=re.M)) == 7
    assert "```python\nx = 5\nprint(x + 1)\n```" in md
    assert "```text\n6\n```" in md and "```text\n10\n```" in md
    assert "```text\nValueError (line 1): bad value\n```" in md
    assert "> Double x with a function, please." in md
    assert "**Answer:**\n\ndouble(x) is **2**." in md
    assert _fences_balanced(md)


def test_fork_is_a_note_and_the_format_follows_the_suffix(run_cli, conversation: Path, tmp_path: Path) -> None:
    assert run_cli("fork", "--conversation", "1").returncode == 0
    target = tmp_path / "fork.ipynb"
    done = run_cli("export", "--conversation", "2", "-o", str(target))
    assert done.returncode == 0, done.stderr
    nb = nbformat.reads(target.read_text(encoding="utf-8"), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].source.startswith("# Conversation 2: fork of x = 1 at turn 7")
    text = "\n".join(cell.source for cell in nb.cells)
    assert "Forked from conversation 1 at turn 7." in text and "fork of conversation 1 at turn 7" in text
    assert "x v1" in text
    explicit = run_cli("export", "--conversation", "2", "--format", "md", "-o", str(tmp_path / "fork.txt"))
    assert explicit.returncode == 0 and (tmp_path / "fork.txt").read_text().startswith("# Conversation 2")


def test_unknown_conversation_is_a_one_line_error(run_cli) -> None:
    empty = run_cli("export")
    assert empty.returncode == 1 and empty.stderr.startswith("Error: there are no conversations yet")
    assert run_cli("run", "--new", "a = 1").returncode == 0
    done = run_cli("export", "--conversation", "99")
    assert done.returncode == 1
    assert done.stderr == "Error: no conversation 99\n" and done.stdout == ""


@pytest.fixture
def database(data_home: Path):
    db = open_database(str(_db_path(data_home)))
    yield db
    db.dispose()


def _new_conversation(database: Database, title: str | None = None) -> int:
    with database.session(write=True) as session:
        conv = Conversation(title=title)
        session.add(conv)
        session.flush()
        return conv.id


def _check_all_formats(database: Database, cid: int) -> tuple[dict, str, str]:
    """Export in every format, check each is well formed, and return them."""
    nb_text = export_conversation(database, cid, "ipynb")
    nbformat.validate(nbformat.reads(nb_text, as_version=4))
    script = export_conversation(database, cid, "py")
    compile(script, "<export>", "exec")
    md = export_conversation(database, cid, "md")
    assert _fences_balanced(md)
    return json.loads(nb_text), script, md


def test_an_empty_conversation_is_a_valid_document_saying_so(database: Database) -> None:
    cid = _new_conversation(database)
    nb, script, md = _check_all_formats(database, cid)
    assert [c["cell_type"] for c in nb["cells"]] == ["markdown"]
    assert "no turns yet" in "".join(nb["cells"][0]["source"])
    assert "# This conversation has no turns yet." in script.splitlines()
    assert md == f"# Conversation {cid}\n\nThis conversation has no turns yet.\n"


def test_awkward_blocks_stay_well_formed(database: Database) -> None:
    """Backticks in code, code that is not Python, limits, unfinished turns: every format stays valid."""
    cid = _new_conversation(database, "edge cases")
    _add_turn(database, cid, text="Édition: ```tricky```", answer=None, status="budget_exhausted",
              error="ran out of iterations", iterations=[
                  {"thinking": "Use a fence:\n```py\nx\n```", "blocks": [
                      {"source": "s = '```'\nprint(s)", "stdout": "```\n"},
                      {"source": "def broken(:\n    pass", "error_type": "SyntaxError",
                       "error_message": "invalid syntax", "error_line": 1},
                      {"source": "from __future__ import annotations", "result_preview": None},
                      {"source": "while True: pass", "limit_hit": "timeout", "error_type": "TimeoutError",
                       "error_message": "the block ran longer than 30 s"},
                      {"source": "print('y' * 10**6)", "stdout": "yyyy…\n", "limit_hit": "output"},
                  ]},
                  {"error": "the model reply could not be parsed"},
              ])
    nb, script, md = _check_all_formats(database, cid)
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [o["name"] for o in cells[4]["outputs"]] == ["stdout", "stderr"]
    assert cells[3]["metadata"]["envloop"]["limit_hit"] == "timeout"
    assert "# def broken(:" in script.splitlines() and "# from __future__ import annotations" in script.splitlines()
    assert "````python\ns = '```'\nprint(s)\n````" in md
    assert "**Status:** budget exhausted: ran out of iterations" in md
    assert "**Iteration error:** the model reply could not be parsed" in md
    assert "> Édition: ```tricky```" in md


def test_unknown_format_and_conversation_raise(database: Database) -> None:
    from envloop.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no conversation 5"):
        export_conversation(database, 5, "md")
    with pytest.raises(ValueError, match="unknown export format"):
        export_conversation(database, _new_conversation(database), "html")  # type: ignore[arg-type]
