"""Deletion and retention through the real CLI: delete a conversation (shared blobs kept), prune old prompts and
outputs (versions kept), vacuum the file; each on a fresh database and on one with data."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from envloop.conversation import Envloop
from envloop.store.models import Blob, Block, Iteration, utcnow

SHARED = "shared = [f'row {i}' for i in range(20000)]"


def db_path(data_home: Path) -> Path:
    return data_home / "envloop" / "envloop.db"


def blob_count(data_home: Path) -> int:
    with Envloop.open(str(db_path(data_home))) as app, app.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Blob)) or 0)


def test_on_a_fresh_database(run_cli) -> None:
    missing = run_cli("delete", "--conversation", "1", "--yes")
    assert missing.returncode == 1 and "no conversation 1" in missing.stderr
    pruned = run_cli("prune", "--older-than", "90d")
    assert pruned.returncode == 0 and "pruned 0 iterations and 0 blocks" in pruned.stdout
    vacuumed = run_cli("db", "vacuum")
    assert vacuumed.returncode == 0 and "freed" in vacuumed.stdout
    bad = run_cli("prune", "--older-than", "ninety days")
    assert bad.returncode == 2 and "not an age" in bad.stderr


def test_delete_keeps_what_others_share_and_asks_first(run_cli, data_home: Path) -> None:
    assert run_cli("run", "--new", SHARED).returncode == 0  # conversation 1
    code = SHARED + "\nmine = [f'secret {i}' for i in range(20000)]\nwrite_file('notes.txt', 'private notes')"
    assert run_cli("run", "--new", code).returncode == 0  # conversation 2: the same list, and one of its own
    workspace = data_home / "envloop" / "workspaces" / "2"
    assert (workspace / "notes.txt").exists()
    before = blob_count(data_home)

    declined = run_cli("delete", "--conversation", "2", input="n\n")
    assert declined.returncode == 1 and "nothing deleted" in declined.stderr
    assert [c["id"] for c in json.loads(run_cli("conversations", "--json").stdout)] == [2, 1]

    done = run_cli("delete", "--conversation", "2", "--json", input="y\n")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["blobs_deleted"] >= 1 and report["blobs_shared"] >= 1
    assert report["blob_bytes"] > 100_000  # 20,000 strings of its own
    assert report["bytes_freed"] == report["row_bytes"] + report["blob_bytes"] + report["workspace_bytes"]
    assert report["workspace_bytes"] == len("private notes") and not workspace.exists()
    assert blob_count(data_home) == before - report["blobs_deleted"]
    assert [c["id"] for c in json.loads(run_cli("conversations", "--json").stdout)] == [1]

    # the other conversation, resumed in a new process, still has the shared value whole
    resumed = run_cli("run", "--conversation", "1", "print(len(shared), shared[-1])")
    assert resumed.returncode == 0 and resumed.stdout.strip() == "20000 row 19999"

    size_before = db_path(data_home).stat().st_size
    vacuumed = run_cli("db", "vacuum")
    assert vacuumed.returncode == 0, vacuumed.stderr
    assert db_path(data_home).stat().st_size < size_before - 100_000


def make_old(data_home: Path, days: int = 100) -> None:
    """Age every iteration and block, as if the conversation had happened ``days`` ago."""
    then = utcnow() - timedelta(days=days)
    with Envloop.open(str(db_path(data_home))) as app, app.database.session(write=True) as session:
        session.execute(update(Iteration).values(created_at=then))
        session.execute(update(Block).values(created_at=then))


def replay(tmp_path: Path, *replies: str) -> str:
    path = tmp_path / f"replay-{len(list(tmp_path.glob('replay-*')))}.json"
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


def test_prune_drops_prompts_and_outputs_but_keeps_versions(run_cli, data_home: Path, tmp_path: Path) -> None:
    model = replay(tmp_path, "Let me look.\n```python\nprint('exploring ' * 50)\n```",
                   "```python\ntotal = sum(range(101))\nprint('total is', total)\nanswer(str(total))\n```")
    assert run_cli("ask", "--new", "--model", model, "add 0..100").returncode == 0
    assert run_cli("run", "print('a direct run ' * 20)").returncode == 0
    fresh = run_cli("prune", "--older-than", "90d")
    assert "pruned 0 iterations and 0 blocks" in fresh.stdout  # nothing is that old yet
    make_old(data_home)

    kept = json.loads(run_cli("prune", "--older-than", "90d", "--keep-named", "--json").stdout)
    assert kept["iterations"] == 1 and kept["kept_named"] == 1  # the iteration that made `total` kept its prompt
    assert run_cli("inspect", "--turn", "1", "--iteration", "2", "--json").stdout.count("[pruned]") == 0

    done = json.loads(run_cli("prune", "--older-than", "90d", "--json").stdout)
    assert done["iterations"] == 1 and done["bytes_freed"] > 0
    inspected = json.loads(run_cli("inspect", "--turn", "1", "--iteration", "2", "--json").stdout)
    assert inspected["messages"][1]["content"] == "[pruned]" and inspected["reply"] is None
    again = json.loads(run_cli("prune", "--older-than", "90d", "--json").stdout)
    assert again["iterations"] == 0 and again["blocks"] == 0 and again["bytes_freed"] == 0

    # every version, its code and its provenance are intact, and a new process restores the value
    history = json.loads(run_cli("history", "total", "--json").stdout)
    assert history[0]["preview"] == "5050" and "sum(range(101))" in history[0]["block_source"]
    resumed = run_cli("run", "total + 1")
    assert resumed.returncode == 0 and resumed.stdout.strip() == "5051"
    exported = run_cli("export").stdout
    assert "exploring exploring" not in exported and "total = sum(range(101))" in exported


def test_delete_prune_vacuum_on_each_back_end(run_cli, db_url: str) -> None:
    assert run_cli("--db", db_url, "run", "--new", SHARED).returncode == 0
    assert run_cli("--db", db_url, "run", "--new", SHARED + "\nmine = [f'secret {i}' for i in range(20000)]"
                   ).returncode == 0
    deleted = run_cli("--db", db_url, "delete", "--conversation", "2", "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    report = json.loads(deleted.stdout)
    assert report["blobs_deleted"] >= 1 and report["blobs_shared"] >= 1 and report["blob_bytes"] > 100_000
    resumed = run_cli("--db", db_url, "run", "--conversation", "1", "len(shared)")
    assert resumed.returncode == 0 and resumed.stdout.strip() == "20000"
    assert run_cli("--db", db_url, "prune", "--older-than", "1s").returncode == 0
    vacuumed = run_cli("--db", db_url, "db", "vacuum", "--full")
    assert vacuumed.returncode == 0 and "freed" in vacuumed.stdout, vacuumed.stderr
