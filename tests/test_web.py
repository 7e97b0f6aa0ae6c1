"""The web channel over HTTP: the token on every route, CSRF on every POST, escaping of what code printed,
and a real ``envloop web`` server that follows a turn another process runs on the same database.

In-process tests use Starlette's TestClient on the real app; the server tests
start the installed ``envloop web`` command and talk to it with httpx.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():  # Starlette would rather have httpx2; the httpx it has works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from envloop.channels.web import create_app
from envloop.conversation import Envloop, Event

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
TOKEN = "test-token-0123456789abcdef"
PAYLOADS = (
    "print('<script>alert(\"pwn\")</script>')\n"
    "img = '<img src=x onerror=alert(1)>'\n"
    "link = 'javascript:alert(1)'\n"
    "term = '\\x1b[2J\\x1b]0;owned\\x07 bell'\n"
    "bidi = 'abc\\u202edcba'\n"
    "lone = 'half \\ud800 surrogate'\n"
    "print(img, link, term, lone)\n"
    "img"
)


@pytest.fixture
def envloop(tmp_path: Path) -> Iterator[Envloop]:
    app = Envloop.open(str(tmp_path / "web.db"))
    yield app
    app.close()


@pytest.fixture
def client(envloop: Envloop) -> Iterator[TestClient]:
    with TestClient(create_app(envloop, token=TOKEN), base_url="http://127.0.0.1:8765",
                    follow_redirects=False) as test_client:
        yield test_client


def _login(client: TestClient) -> str:
    """Follow the printed link; return the CSRF token of the page it leads to."""
    response = client.get(f"/?token={TOKEN}")
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match
    return match.group(1)


def _every_route(client: TestClient, cid: int) -> list[tuple[str, str]]:
    """Every route the app declares (read from its routing table), with sample parameters filled in."""
    from starlette.routing import Mount, Route

    found: list[tuple[str, str]] = []
    for route in client.app.app.routes:  # the Guard wraps the Starlette app
        if isinstance(route, Mount):
            found += [("GET", f"{route.path}/{name}") for name in ("htmx.min.js", "app.js", "app.css",
                                                                    "LICENSE-htmx.txt")]
        elif isinstance(route, Route):
            path = route.path.replace("{cid:int}", str(cid)).replace("{name}", "x")
            found += [(method, path) for method in sorted(route.methods or {"GET"}) if method != "HEAD"]
    assert len(found) > 12
    return found + [("GET", "/no/such/page"), ("GET", f"/c/{cid}/why/x?format=svg")]


def test_a_stranger_without_the_token_gets_401_on_every_route(client: TestClient, envloop: Envloop) -> None:
    cid = envloop.run_code("x = 1", new=True).conversation_id
    for method, path in _every_route(client, cid):
        response = client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert "access token" in response.text
        assert "x = 1" not in response.text
    wrong = client.get("/?token=" + "w" * 26)
    assert wrong.status_code == 403 and "set-cookie" not in wrong.headers
    assert client.get("/", headers={"authorization": "Bearer " + "w" * 26}).status_code == 401
    client.cookies.set("envloop_web", "0" * 64)
    assert client.get("/").status_code == 401


def test_the_link_sets_a_cookie_and_drops_the_token_from_the_address(client: TestClient, envloop: Envloop) -> None:
    cid = envloop.run_code("x = 1", new=True).conversation_id
    response = client.get(f"/c/{cid}/vars?token={TOKEN}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/c/{cid}/vars"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    page = client.get(f"/c/{cid}/vars")
    assert page.status_code == 200 and 'data-name="x"' in page.text
    assert client.get(f"/%2Fevil.example/?token={TOKEN}").headers["location"] == "/evil.example/"  # path //evil…
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    # Scripts may use the token as a bearer token instead of the cookie.
    client.cookies.clear()
    assert client.get("/", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_posts_need_the_csrf_token_and_this_origin(client: TestClient, envloop: Envloop) -> None:
    envloop.run_code("x = 1", new=True)
    envloop.run_code("x = 2")
    cid = envloop.resolve()
    csrf = _login(client)
    url = f"/c/{cid}/name/x/rollback"
    assert client.post(url, data={"version": "1"}).status_code == 403
    assert client.post(url, data={"version": "1", "csrf": "0" * 64}).status_code == 403
    foreign = client.post(url, data={"version": "1", "csrf": csrf}, headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert [v.version for v in envloop.history("x", cid)] == [1, 2]  # nothing happened
    assert client.get(url).status_code == 405  # state changes are POSTs only
    done = client.post(url, data={"version": "1", "csrf": csrf}, headers={"origin": "http://127.0.0.1:8765"})
    assert done.status_code == 303
    history = envloop.history("x", cid)
    assert [v.version for v in history] == [1, 2, 3] and history[-1].preview == "1"
    # htmx sends the token as a header instead of a form field
    new = client.post("/new", headers={"x-csrf-token": csrf})
    assert new.status_code == 303 and new.headers["location"].endswith(f"/c/{cid + 1}")


def test_what_code_printed_is_shown_as_text(client: TestClient, envloop: Envloop) -> None:
    report = envloop.run_code(PAYLOADS, new=True)
    assert report.outcome.result.ok, report.outcome.result.error
    cid = report.conversation_id
    _login(client)
    pages = [f"/c/{cid}", f"/c/{cid}/vars", f"/c/{cid}/name/img", f"/c/{cid}/name/term", f"/c/{cid}/name/lone",
             f"/c/{cid}/why/img", f"/c/{cid}/why/img?format=svg"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode("utf-8")  # strict: a lone surrogate would not have encoded
        assert "<script>alert" not in body and "<img" not in body, path
        assert not re.search(r"""href=["']?\s*javascript:""", body, re.I), path
        assert "\x1b" not in body and "\x07" not in body and "\u202e" not in body, path
    page = client.get(f"/c/{cid}").text
    assert "&lt;script&gt;alert(&#34;pwn&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "␛[2J␛]0;owned␇ bell" in page  # printed: the real escape characters, shown as symbols
    assert "half \\ud800 surrogate" in page
    assert "half \\ud800 surrogate" in client.get(f"/c/{cid}/name/lone").text


def test_live_events_show_terminal_escapes_and_lone_surrogates_as_text(envloop: Envloop) -> None:
    """A block's output reaches the page before (or without) the database: it is made safe on the way."""
    web = create_app(envloop, token=TOKEN).app.state.web
    html = web.fragment("_event.html", None, cid=1, event=Event("block_finished", {
        "stdout": "a \ud800 b \x1b[31mred\x1b[0m \u202eevil <b onmouseover=x>", "result": None, "error": None,
        "limit": None}))
    html.encode("utf-8")  # strict: would raise on a lone surrogate
    assert "a \\ud800 b ␛[31mred␛[0m \\u202eevil &lt;b onmouseover=x&gt;" in html


def test_a_huge_output_is_folded_on_the_page(client: TestClient, envloop: Envloop) -> None:
    cid = envloop.run_code("print('head' + 'x' * 50_000 + 'tail')", new=True).conversation_id
    _login(client)
    page = client.get(f"/c/{cid}").text
    assert "headxxx" in page and "xxxtail" in page
    assert "30,009 characters not shown" in page  # 50,009 printed (with the newline), 20,000 shown
    assert len(page) < 40_000


def test_undo_and_redo_from_the_page(client: TestClient, envloop: Envloop) -> None:
    cid = envloop.run_code("x = 1", new=True).conversation_id
    envloop.run_code("x = 2", conversation_id=cid)
    csrf = _login(client)
    assert client.post(f"/c/{cid}/undo").status_code == 403  # no CSRF token
    assert client.post(f"/c/{cid}/undo", data={"csrf": csrf}).status_code == 303
    assert [v.preview for v in envloop.history("x", cid)] == ["1", "2", "1"]
    assert client.post(f"/c/{cid}/redo", headers={"x-csrf-token": csrf, "hx-request": "true"}).status_code == 204
    assert [v.preview for v in envloop.history("x", cid)] == ["1", "2", "1", "2"]
    page = client.get(f"/c/{cid}").text
    assert "turn undo" in page and "turn redo" in page  # both are entries of the transcript


def test_a_first_message_starts_a_titled_web_conversation(envloop: Envloop, tmp_path: Path) -> None:
    replay = tmp_path / "r.json"
    replay.write_text(json.dumps(["```python\nanswer(6 * 7)\n```"]))
    app = create_app(envloop, token=TOKEN, model=f"replay:{replay}")
    with TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False) as client:
        csrf = _login(client)
        response = client.post("/new", data={"csrf": csrf, "text": "What is six times seven?\nThanks."})
        assert response.status_code == 303
        cid = int(response.headers["location"].rsplit("/", 1)[1])
        info = next(c for c in envloop.list_conversations() if c.id == cid)
        assert (info.title, info.channel) == ("What is six times seven?", "web")
        deadline = time.monotonic() + 30
        while not envloop.transcript(cid).turns or envloop.transcript(cid).turns[0].status == "running":
            assert time.monotonic() < deadline, "the turn did not finish"
            time.sleep(0.05)
        assert envloop.transcript(cid).turns[0].answer == "42"
        assert 'class="answer">42</div>' in client.get(f"/c/{cid}").text


def test_a_name_page_diffs_two_versions_and_unknown_names_are_404(client: TestClient, envloop: Envloop) -> None:
    cid = envloop.run_code("def f(n):\n    return n + 1\n", new=True).conversation_id
    envloop.run_code("def f(n):\n    return n + 2\n", conversation_id=cid)
    _login(client)
    diff = client.get(f"/c/{cid}/name/f?a=1&b=2").text
    assert '<span class="del">-    return n + 1</span>' in diff
    assert '<span class="add">+    return n + 2</span>' in diff
    assert client.get(f"/c/{cid}/name/nope").status_code == 404
    assert client.get(f"/c/{cid}/name/f?a=1&b=9").status_code == 404
    assert client.get("/c/999").status_code == 404


# -- a real server ----------------------------------------------------------------------


class Server:
    """``envloop web`` in a subprocess, on a free port of 127.0.0.1."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None, db: str | None = None) -> None:
        self.env = {**os.environ, "ENVLOOP_DB": db or str(tmp_path / "envloop.db"), **(env or {})}
        self.log = (tmp_path / "web.log").open("w+")
        self.proc = subprocess.Popen([ENVLOOP, "web", "--port", "0", *args], env=self.env, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"(http://\S+)/\?token=(\S+)", line)
        if not found:
            self.stop()
            self.log.seek(0)
            raise AssertionError(f"no link printed: {line!r} {self.log.read()}")
        self.root, self.token = found.group(1), found.group(2)
        self.link = f"{self.root}/?token={self.token}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[object]:
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None, db: str | None = None) -> Server:
        servers.append(Server(tmp_path, *args, env=env, db=db))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_binding_another_address_needs_a_chosen_token(run_cli) -> None:
    refused = run_cli("web", "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 1
    assert "refusing to listen on 0.0.0.0" in refused.stderr and "--token" in refused.stderr
    short = run_cli("web", "--token", "short", "--port", "0")
    assert short.returncode == 1 and "at least 16 characters" in short.stderr


def test_a_configured_token_allows_another_address(start_server, tmp_path: Path) -> None:
    config = tmp_path / "config" / "envloop"
    config.mkdir(parents=True)
    (config / "config.toml").write_text('[web]\ntoken = "configured-token-0123456789"\n')
    server = start_server("--host", "0.0.0.0", env={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert server.token == "configured-token-0123456789"
    port = server.root.rsplit(":", 1)[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        assert client.get("/").status_code == 401
        assert client.get("/", headers={"authorization": f"Bearer {server.token}"}).status_code == 200


def test_a_real_server_needs_the_token_and_follows_a_turn_from_another_process(
        start_server, tmp_path: Path, db_url: str) -> None:
    """On SQLite the page's stream polls; on PostgreSQL it is woken by LISTEN/NOTIFY."""
    server = start_server(db=db_url)
    assert server.root.startswith("http://127.0.0.1:")
    env = server.env
    subprocess.run([ENVLOOP, "run", "seed = 1", "--new"], env=env, check=True, capture_output=True)
    with httpx.Client(base_url=server.root, timeout=30) as stranger:
        assert stranger.get("/").status_code == 401
        assert stranger.get("/c/1/events").status_code == 401
    with httpx.Client(base_url=server.root, timeout=30, follow_redirects=True) as browser:
        assert browser.get(server.link).status_code == 200
        replay = tmp_path / "cli.json"
        replay.write_text(json.dumps(["```python\nfrom_cli = 6 * 7\nanswer(from_cli)\n```"]))
        with browser.stream("GET", "/c/1/events") as events:
            lines = events.iter_lines()
            assert next(lines) == "event: status"
            ask = subprocess.run([ENVLOOP, "ask", "from the CLI", "--conversation", "1", "--model",
                                  f"replay:{replay}"], env=env, capture_output=True, text=True, timeout=60)
            assert ask.returncode == 0, ask.stderr
            deadline = time.monotonic() + 20
            seen = ""
            for line in lines:
                seen += line + "\n"
                if "from_cli = 6 * 7" in seen and 'class="answer">42<' in seen.replace("\ndata: ", ""):
                    break
                assert time.monotonic() < deadline, seen
        assert "from the CLI" in seen


def test_the_server_stops_cleanly_with_a_page_open(start_server) -> None:
    """SIGTERM (or Ctrl-C) ends the open event streams, so the server stops at once and without a traceback."""
    server = start_server()
    subprocess.run([ENVLOOP, "run", "x = 1", "--new"], env=server.env, check=True, capture_output=True)
    with httpx.Client(base_url=server.root, timeout=30) as client:
        headers = {"authorization": f"Bearer {server.token}"}
        with client.stream("GET", "/c/1/events", headers=headers) as events:
            lines = events.iter_lines()
            assert next(lines) == "event: status"
            server.proc.send_signal(signal.SIGTERM)
            list(lines)  # returns: the server ended the stream rather than waiting for the page to leave
        assert server.proc.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has stopped
    server.log.seek(0)
    assert "Traceback" not in server.log.read()
