"""The web channel in a real browser: headless Chromium, driven by Playwright, against ``envloop web``.

A person opens the printed link, starts a conversation, asks; the replayed
model's reply (as it is written), blocks, output and version changes stream
onto the page; a turn run by
the CLI in another process appears without a reload; they open a name, diff
two versions, roll one back, and read its lineage picture. Screenshots of the
conversation and the lineage go to ``screenshots/`` (git-ignored; set
``ENVLOOP_SCREENSHOTS`` to put them elsewhere).

Needs the system's Chromium (``apt-get install chromium``); without it these
tests skip and say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ENVLOOP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(os.environ.get("ENVLOOP_SCREENSHOTS") or ROOT / "screenshots")
TIMEOUT_MS = 30_000

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) to run the browser tests",
                allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect
expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine starts sandboxes slowly; a pass is still quick

pytestmark = pytest.mark.slow

FIRST = ("I'll put the invoices in a list first, with the tax rate as its own name.\n"
         "```python\ninvoices = [1200.0, 850.0, 430.0]\ntax_rate = 0.20\n"
         "print(len(invoices), 'invoices,', sum(invoices), 'before tax')\n```")
SECOND = ("Now a helper for the tax, and the total.\n"
          "```python\ndef with_tax(amount):\n    return round(amount * (1 + tax_rate), 2)\n\n"
          "total = with_tax(sum(invoices))\nanswer(f'The invoices come to {total:,.2f} with tax.')\n```")
THIRD = ("The reduced rate, then the same total.\n```python\ntax_rate = 0.10\n```\n"
         "```python\ntotal = with_tax(sum(invoices))\nanswer(f'At 10% it is {total:,.2f}.')\n```")


def write_replay(path: Path, *replies: object) -> str:
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


class Server:
    """``envloop web --port 0`` in a subprocess; ``link`` is the printed URL with the token."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, "ENVLOOP_DB": str(tmp_path / "envloop.db"), **(env or {})}
        self.log_path = tmp_path / "web.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([ENVLOOP, "web", "--port", "0", *args], env=self.env,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"(http://\S+?)/\?token=(\S+)", line)
        if not found:
            self.stop()
            raise AssertionError(f"envloop web printed no link: {line!r}\n{self.log_path.read_text()}")
        self.root, self.link = found.group(1), found.group(0)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ENVLOOP, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, start_server: Any) -> Iterator[Any]:
    """A fresh browser tab, closed before the servers stop (so their event streams end cleanly)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert not errors, f"the page reported errors: {errors}"


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        servers.append(Server(tmp_path, *args, env=env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _new_conversation(page: Any, server: Server) -> int:
    page.goto(server.link)
    expect(page.locator("h1")).to_have_text("Conversations")
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url(re.compile(r"/c/\d+$"))
    expect(page.locator("body")).to_have_attribute("data-connected", "yes")
    return int(page.url.rsplit("/", 1)[1])


def _ask(page: Any, text: str) -> None:
    page.locator("#ask textarea").fill(text)
    page.locator("#send").click()


def test_a_replayed_conversation_streams_rolls_back_and_draws_its_lineage(
        page: Any, start_server: Any, tmp_path: Path) -> None:
    model = write_replay(tmp_path / "web.json", FIRST, {"reply": SECOND, "chunk_delay": 0.25}, THIRD)
    server = start_server("--model", model)
    cid = _new_conversation(page, server)

    # The turn streams: the first block's code, output and new versions are on the page
    # while the model is still "thinking" about the second reply.
    _ask(page, "What do the invoices come to, with 20% tax?")
    expect(page.locator("#state")).to_have_text("running…")
    expect(page.locator("#live pre.out")).to_contain_text("3 invoices, 2480.0 before tax")
    expect(page.locator("#live .changed", has_text="tax_rate v1")).to_be_visible()
    expect(page.locator("#cancel")).to_be_visible()
    # The second reply appears as the model writes it, a few words at a time.
    expect(page.locator("#live pre.reply-stream")).to_contain_text("Now a helper for the tax")
    assert page.locator(".answer").count() == 0
    # ... then the answer, and the turn settles into the transcript.
    expect(page.locator("#transcript .answer")).to_have_text("The invoices come to 2,976.00 with tax.")
    expect(page.locator("#state")).to_have_text("idle")
    expect(page.locator("pre.reply-stream")).to_have_count(0)  # replaced by the reply's thinking and code
    expect(page.locator("#ask textarea")).to_have_value("")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "conversation.png"), full_page=True)

    _ask(page, "Use the reduced rate of 10% instead.")
    expect(page.locator("#transcript .answer").nth(1)).to_have_text("At 10% it is 2,728.00.")

    # A turn run by the CLI in another process shows up without a reload.
    other = write_replay(tmp_path / "cli.json", "```python\nfrom_cli = 6 * 7\nanswer(from_cli)\n```")
    done = server.cli("ask", "asked from the CLI", "--conversation", str(cid), "--model", other)
    assert done.returncode == 0, done.stderr
    expect(page.locator("#transcript")).to_contain_text("asked from the CLI")
    expect(page.locator("#transcript .answer").nth(2)).to_have_text("42")

    # The var index, a name, a diff, a rollback.
    page.get_by_role("link", name="variables").click()
    expect(page.locator("#vars tr[data-name=total] td").nth(1)).to_contain_text("v2")
    page.locator("#vars").get_by_role("link", name="tax_rate", exact=True).click()
    expect(page.locator("section.version")).to_have_count(2)
    page.locator("#diff select[name=a]").select_option("1")
    page.locator("#diff select[name=b]").select_option("2")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#diff-result .del")).to_have_text("-0.2")
    expect(page.locator("#diff-result .add")).to_have_text("+0.1")
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.locator("section.version")).to_have_count(3)
    expect(page.locator("section#v3")).to_contain_text("rolled back from tax_rate v1")
    expect(page.locator("section#v3 pre.value")).to_have_text("0.2")
    expect(page.locator("section#v2 p.made")).to_have_text("made by tax_rate = 0.10")
    page.screenshot(path=str(SHOTS / "name.png"), full_page=True)

    # total was computed from tax_rate v2, which the rollback replaced: the index marks it stale.
    page.get_by_role("link", name="variables").click()
    expect(page.locator("#vars tr[data-name=total] .mark.stale")).to_be_visible()

    # why total: the lineage picture has exactly the versions it came from, each a link.
    page.locator("#vars tr[data-name=total]").get_by_role("link", name="why").click()
    svg = page.locator("svg#lineage")
    expect(svg).to_be_visible()
    keys = set(svg.locator("g.node").evaluate_all("nodes => nodes.map(n => n.dataset.key)"))
    edges = set(svg.locator("path.edge").evaluate_all("es => es.map(e => e.dataset.from + ' -> ' + e.dataset.to)"))
    assert {"total v2", "tax_rate v2", "invoices v1", "with_tax v1"} <= keys
    assert {"invoices v1 -> total v2", "tax_rate v2 -> total v2", "with_tax v1 -> total v2"} <= edges
    # ... and exactly the chain `envloop why` reports, read by another process.
    why = server.cli("why", "total", "--json", "--conversation", str(cid))
    chain = json.loads(why.stdout)
    assert keys == {f"{v['name']} v{v['version']}" for v in chain}
    assert edges == {f"{read} -> {v['name']} v{v['version']}" for v in chain for read in v["reads"]}
    expect(svg.locator("g.node.asked")).to_have_attribute("data-key", "total v2")
    expect(svg.locator('g.node[data-key="tax_rate v2"]')).to_have_class(re.compile("superseded"))
    expect(svg.locator('g.node[data-key="total v2"]')).to_have_class(re.compile("stale"))
    svg.screenshot(path=str(SHOTS / "lineage.png"))
    page.screenshot(path=str(SHOTS / "why.png"), full_page=True)
    svg.locator('g.node[data-key="tax_rate v2"]').click()
    page.wait_for_url(re.compile(r"/name/tax_rate#v2$"))
    expect(page.locator("section#v2")).to_be_visible()


def test_approval_buttons_and_cancel(page: Any, start_server: Any, tmp_path: Path, outbox_plugin: Any) -> None:
    send = "```python\nstatus = send_message('bob', 'hello from the web')\nanswer(status)\n```"
    slow = {"reply": "```python\nanswer('too late')\n```", "delay": 60}
    server = start_server("--model", write_replay(tmp_path / "r.json", send, slow), env=outbox_plugin.env)
    _new_conversation(page, server)

    _ask(page, "Tell Bob hello.")
    question = page.locator("form.approval")
    expect(question).to_contain_text("send_message")
    assert not outbox_plugin.outbox.exists()  # nothing happens before the person says yes
    question.get_by_role("button", name="Allow").click()
    expect(page.locator("#transcript .answer")).to_have_text("sent")
    assert outbox_plugin.outbox.read_text() == "bob: hello from the web"

    _ask(page, "Something slow.")
    expect(page.locator("#state")).to_have_text("running…")
    page.locator("#cancel").click()
    expect(page.locator("#transcript .turn").nth(1)).to_contain_text("cancelled")
    expect(page.locator("#state")).to_have_text("idle")


def test_what_the_code_printed_cannot_run_in_the_page(page: Any, start_server: Any, tmp_path: Path) -> None:
    payload = ("```python\nprint('<img src=x onerror=\"document.title=1\"><script>document.title=2</script>')\n"
               "link = '<a href=\"javascript:document.title=3\">click</a>'\nanswer(link)\n```")
    server = start_server("--model", write_replay(tmp_path / "r.json", payload))
    _new_conversation(page, server)
    title = page.title()
    _ask(page, "Try it.")
    answer = page.locator("#transcript .answer")
    expect(answer).to_have_text('<a href="javascript:document.title=3">click</a>')
    expect(page.locator("#transcript pre.out")).to_contain_text("<img src=x onerror=")
    assert page.locator("main img, main script, #transcript a[href^=javascript]").count() == 0
    assert page.title() == title
