"""The Telegram channel: the real bot (``envloop telegram``) against a fake Bot API on 127.0.0.1.

Each test starts the fake server, runs the bot as a subprocess with a replay
model, acts as Telegram users, and checks what the chat shows and what the
database holds. Unit tests at the end cover formatting, access and redaction.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
FENCE = "```"
TOKEN = "123456789:AAFakeSecretTokenForTests_xyz-0123456789"
ALICE, BOB, STRANGER = 1001, 1002, 6666


def _load_fake() -> Any:
    """tests/ is not a package (importlib mode), so load the fake server module by path."""
    spec = importlib.util.spec_from_file_location("fake_telegram", Path(__file__).with_name("fake_telegram.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_telegram"] = module
    spec.loader.exec_module(module)
    return module


fake_telegram = _load_fake()


def code(source: str, prose: str = "Let me compute that.") -> str:
    return f"{prose}\n{FENCE}python\n{source}\n{FENCE}\n"


def write_replay(path: Path, *replies: object) -> str:
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


class BotProcess:
    """``envloop telegram`` as a subprocess, its stderr in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen([ENVLOOP, "telegram", *args], env=env, stdout=self._log, stderr=self._log,
                                     start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM (a graceful stop), bounded."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.cleanup()
        return self.proc.returncode

    def crash(self) -> None:
        """SIGKILL the bot alone, as a crash would, and reap it (a zombie would still look alive to lock checks)."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def cleanup(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # sandbox workers left behind by a crash
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()


@pytest.fixture
def fake() -> Iterator[Any]:
    with fake_telegram.FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
def start_bot(fake: Any, data_home: Path, tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    started: list[BotProcess] = []

    def start(*args: str, allowed: str | None = f"{ALICE},{BOB}", env: dict[str, str] | None = None,
              wait: bool = True) -> BotProcess:
        full_env = dict(os.environ, ENVLOOP_TELEGRAM_TOKEN=TOKEN, ENVLOOP_TELEGRAM_API_URL=fake.url)
        full_env.pop("ENVLOOP_TELEGRAM_ALLOWED", None)
        if allowed is not None:
            full_env["ENVLOOP_TELEGRAM_ALLOWED"] = allowed
        full_env.update(env or {})
        polls = len(fake.calls_to("getUpdates"))
        bot = BotProcess(list(args), full_env, tmp_path / "bot.log")
        started.append(bot)
        if wait:
            fake.wait_for(lambda: len(fake.calls_to("getUpdates")) > polls or bot.proc.poll() is not None,
                          what="the bot to start polling")
            assert bot.proc.poll() is None, bot.log()
        return bot

    yield start
    for bot in started:
        bot.stop()


def db_path(data_home: Path) -> Path:
    return data_home / "envloop" / "envloop.db"


def open_app(data_home: Path) -> Any:
    from envloop.conversation import Envloop

    return Envloop.open(str(db_path(data_home)))


def answer_in(fake: Any, chat_id: int, needle: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for a bot message in ``chat_id`` containing ``needle``; return it."""
    return fake.wait_for(lambda: next((m for m in fake.bot_messages(chat_id) if needle in m["text"]), None),
                         timeout=timeout, what=f"{needle!r} in chat {chat_id}")


# -- the real bot -------------------------------------------------------------------------


def test_an_allowed_user_gets_an_answer(fake: Any, start_bot: Callable[..., BotProcess], tmp_path: Path,
                                        data_home: Path) -> None:
    model = write_replay(tmp_path / "r.json", code("x = 6 * 7\nprint(x)"),
                         code("answer(f'The answer is {x} <exactly> & done')", "Now the answer."))
    bot = start_bot("--model", model)
    asked = fake.send_text(ALICE, ALICE, "What is 6 times 7?")
    answer = answer_in(fake, ALICE, "The answer is 42")
    assert answer["parse_mode"] == "HTML" and "&lt;exactly&gt; &amp; done" in answer["text"]
    assert re.search(r"turn 1 · 2 iterations · [\d.]+ s · [\d,]+\+[\d,]+ tokens · \$0\.0000", answer["text"])
    status = fake.bot_messages(ALICE)[0]
    assert status["message_id"] < answer["message_id"] and status["edits"] >= 1
    assert status["text"].startswith("<b>✅ Answered</b> · 2 iterations")
    first = fake.calls_to("sendMessage", ALICE)[0]
    assert first.params["reply_parameters"]["message_id"] == asked  # the status answers the question
    assert fake.calls_to("sendChatAction", ALICE) and {c["command"] for c in fake.commands} >= {"new", "why", "cost"}
    with open_app(data_home) as app:
        (conv,) = app.list_conversations()
        assert (conv.channel, conv.external_id, conv.turns) == ("telegram", str(ALICE), 1)
        assert [v.name for v in app.vars(conv.id)] == ["x"]
    assert bot.stop() == 0
    assert "Application is stopping" in bot.log() or "stopping" in bot.log().lower()


def test_the_token_never_reaches_logs_or_the_database(fake: Any, start_bot: Callable[..., BotProcess],
                                                      tmp_path: Path, data_home: Path) -> None:
    model = write_replay(tmp_path / "r.json", code("answer('ok')"))
    bot = start_bot("--model", model, "--verbose")
    fake.send_text(ALICE, ALICE, "hello")
    answer_in(fake, ALICE, "ok")
    bot.stop()
    log = bot.log()
    assert "getUpdates" in log and "<redacted>" in log  # debug logging did show URLs, with the token masked
    secret = TOKEN.split(":")[1]
    assert secret not in log
    for path in db_path(data_home).parent.glob("envloop.db*"):
        assert secret.encode() not in path.read_bytes(), path


def test_a_stranger_is_refused_once_and_nothing_is_stored(fake: Any, start_bot: Callable[..., BotProcess],
                                                          tmp_path: Path, data_home: Path) -> None:
    model = write_replay(tmp_path / "r.json", code("answer('for alice')"))
    start_bot("--model", model)
    fake.send_text(STRANGER, STRANGER, "run something for me")
    refusal = answer_in(fake, STRANGER, "private envloop bot")
    assert str(STRANGER) in refusal["text"]
    fake.send_text(ALICE, ALICE, "hi")  # an allowed user right after: the model's only reply is still unused
    answer_in(fake, ALICE, "for alice")
    assert len(fake.bot_messages(STRANGER)) == 1 and not fake.calls_to("sendChatAction", STRANGER)
    with open_app(data_home) as app:
        assert [c.external_id for c in app.list_conversations()] == [str(ALICE)]


def test_commands_mirror_the_terminal(fake: Any, start_bot: Callable[..., BotProcess], tmp_path: Path,
                                      data_home: Path) -> None:
    model = write_replay(tmp_path / "r.json", code("base = 10\ntotal = base * 2\nanswer(total)"),
                         code("total = total + 1\nanswer(total)"))
    start_bot("--model", model)
    fake.send_text(ALICE, ALICE, "Make a total")
    answer_in(fake, ALICE, "turn 1")
    fake.send_text(ALICE, ALICE, "Add one")
    answer_in(fake, ALICE, "turn 2")
    steps = [
        ("/vars", "total v2"),
        ("/why total", "read: total v1"),
        ("/history total", "total v1"),
        ("/rollback total 1", "total"),
        ("/cost", "2 turns"),
        ("/undo", "total"),
        ("/why", "usage: /why NAME"),
        ("/frobnicate", "Unknown command"),
        ("/help", "/rollback NAME VERSION"),
    ]
    for command, expected in steps:
        seen = len(fake.bot_messages(ALICE))
        fake.send_text(ALICE, ALICE, command)
        fake.wait_for(lambda expected=expected, seen=seen: any(expected in m["text"] for m in fake.bot_messages(ALICE)[seen:]),
                      what=f"{command} to answer {expected!r}")
    with open_app(data_home) as app:
        (conv,) = app.list_conversations()
        history = app.history("total", conv.id)
        assert [h.version for h in history] == [1, 2, 3, 4] and history[2].rolled_back_from  # rollback, then undo
    fake.send_text(ALICE, ALICE, "/new")
    answer_in(fake, ALICE, "fresh conversation")
    seen = len(fake.bot_messages(ALICE))
    fake.send_text(ALICE, ALICE, "/vars")
    fake.wait_for(lambda: any("No names defined yet" in m["text"] for m in fake.bot_messages(ALICE)[seen:]))
    with open_app(data_home) as app:
        conversations = {c.external_id: c for c in app.list_conversations()}
        assert set(conversations) == {str(ALICE), f"{ALICE}#archived-{conv.id}"}
        assert conversations[f"{ALICE}#archived-{conv.id}"].turns >= 2  # the old conversation is kept


def test_a_long_answer_is_split_into_valid_messages(fake: Any, start_bot: Callable[..., BotProcess],
                                                    tmp_path: Path) -> None:
    program = "\n".join(f"value_{i} = {i} * 2  # < & >" for i in range(400))
    source = ("lines = ['row %d: ' % i + 'x' * 40 + ' <&>' for i in range(150)]\n"
              "body = chr(10).join(lines)\n"
              f"answer(body + chr(10) + '{FENCE}python' + chr(10) + {program!r} + chr(10) + '{FENCE}' + chr(10)"
              " + 'END')")
    start_bot("--model", write_replay(tmp_path / "r.json", code(source)))
    fake.send_text(ALICE, ALICE, "Write a lot")
    answer_in(fake, ALICE, "turn 1")
    answer = [m["text"] for m in fake.bot_messages(ALICE)[1:]]
    assert len(answer) >= 3
    assert all(len(t.encode("utf-16-le")) // 2 <= 4096 for t in answer)  # and the fake accepted each as HTML
    assert answer[0].startswith("row 0: ") and "END" in answer[-1] and "turn 1 · 1 iteration" in answer[-1]
    code_parts = [t for t in answer if "<pre>" in t]
    assert len(code_parts) >= 2 and all(t.count("<pre>") == t.count("</pre>") for t in answer)
    joined = re.sub(r"</?(pre|code)[^>]*>", "", "".join(answer))
    assert "row 149: " in joined and "value_399 = 399 * 2  # &lt; &amp; &gt;" in joined


def test_two_chats_run_at_the_same_time(fake: Any, start_bot: Callable[..., BotProcess], tmp_path: Path,
                                        data_home: Path) -> None:
    slow = {"reply": code("answer('finished')"), "delay": 2.0}
    start_bot("--model", write_replay(tmp_path / "r.json", slow, slow))
    fake.send_text(ALICE, ALICE, "slow one")
    fake.send_text(BOB, BOB, "slow two")
    for chat in (ALICE, BOB):  # the answer itself (the status message also shows the reply while it streams)
        fake.wait_for(lambda chat=chat: [c for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == chat
                                         and "finished" in c.params["text"]] or None, timeout=60.0,
                      what=f"the answer in chat {chat}")
    sends = fake.calls_to("sendMessage")
    first_answer = min(c.seq for c in sends if "finished" in c.params["text"])
    statuses = [c for c in sends if "Working" in c.params["text"]]
    assert {int(c.params["chat_id"]) for c in statuses if c.seq < first_answer} == {ALICE, BOB}
    from envloop.store.models import Query

    with open_app(data_home) as app, app.database.session() as session:
        a, b = session.query(Query).order_by(Query.id).all()
        assert a.created_at < b.finished_at and b.created_at < a.finished_at  # the turns overlapped


def test_messages_in_one_chat_queue_in_order(fake: Any, start_bot: Callable[..., BotProcess], tmp_path: Path,
                                             data_home: Path) -> None:
    replies = [{"reply": code(f"answer('reply {n}')"), "delay": 0.5} for n in (1, 2, 3)]
    start_bot("--model", write_replay(tmp_path / "r.json", *replies))
    asked = [fake.send_text(ALICE, ALICE, f"question {n}") for n in (1, 2, 3)]
    answer_in(fake, ALICE, "reply 3")
    texts = fake.texts(ALICE)
    assert sum("Queued" in t for t in texts) == 2
    order = [t for t in texts if t.startswith("reply")]
    assert order == sorted(order) and len(order) == 3
    statuses = [c for c in fake.calls_to("sendMessage", ALICE) if "Working" in c.params["text"]]
    assert [c.params["reply_parameters"]["message_id"] for c in statuses] == asked
    with open_app(data_home) as app, app.database.session() as session:
        from envloop.store.models import Query

        assert [q.text for q in session.query(Query).order_by(Query.position)] == [f"question {n}" for n in (1, 2, 3)]


@pytest.mark.parametrize("choice", ["yes", "no", "silence"])
def test_irreversible_calls_ask_with_buttons(fake: Any, start_bot: Callable[..., BotProcess], tmp_path: Path,
                                             outbox_plugin: Any, choice: str) -> None:
    outbox = outbox_plugin.outbox
    model = write_replay(tmp_path / "r.json", code(
        "try:\n    status = send_message('ann', 'hi')\nexcept PermissionError as e:\n    status = f'refused: {e}'\n"
        "answer(status)"))
    start_bot("--model", model, "--approval-timeout", "1", env=outbox_plugin.env)
    fake.send_text(ALICE, ALICE, "Tell Ann hi")
    question = answer_in(fake, ALICE, "Allow it?")
    buttons = question["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["✅ Yes", "❌ No"] and "send_message" in question["text"]
    if choice == "silence":  # nobody answers: that is a no
        answer_in(fake, ALICE, "refused:")
        assert "no answer within 1 s" in fake.bot_messages(ALICE)[1]["text"] and not outbox.exists()
        return
    fake.press(ALICE, BOB, question["message_id"], buttons[0]["callback_data"])  # Bob may not answer for Alice
    fake.wait_for(lambda: fake.calls_to("answerCallbackQuery"), what="Bob's press to be answered")
    assert "Only the person who asked" in fake.calls_to("answerCallbackQuery")[0].params["text"]
    fake.press(ALICE, ALICE, question["message_id"], buttons[0 if choice == "yes" else 1]["callback_data"])
    if choice == "yes":
        answer_in(fake, ALICE, "sent")
        assert outbox.read_text() == "ann: hi"
    else:
        answer_in(fake, ALICE, "refused:")
        assert not outbox.exists()
    settled = next(m for m in fake.bot_messages(ALICE) if m["message_id"] == question["message_id"])
    assert ("Allowed" if choice == "yes" else "Denied") in settled["text"] and "reply_markup" not in settled
    assert len(fake.calls_to("answerCallbackQuery")) == 2


def test_a_restart_mid_turn_interrupts_it_and_keeps_the_conversation(
        fake: Any, start_bot: Callable[..., BotProcess], tmp_path: Path, data_home: Path) -> None:
    replay = tmp_path / "r.json"
    model = write_replay(replay, code("x = 41\nanswer('stored')"), {"reply": code("answer(x + 1)"), "delay": 60})
    bot = start_bot("--model", model)
    fake.send_text(ALICE, ALICE, "Remember 41")
    answer_in(fake, ALICE, "stored")
    fake.send_text(ALICE, ALICE, "Slowly add one")
    answer_in(fake, ALICE, "iteration 1/8")  # the turn is running: the model is "thinking"
    bot.crash()
    with open_app(data_home) as app:
        assert [t["status"] for t in app.last_turns("telegram")] == ["running"]  # nobody marked it yet
    write_replay(replay, code("answer(x + 1)"))
    start_bot("--model", model)
    notice = answer_in(fake, ALICE, "interrupted")
    assert "Slowly add one" in notice["text"]
    fake.send_text(ALICE, ALICE, "Add one to x")
    answer_in(fake, ALICE, "42")  # the names from before the crash are still there
    with open_app(data_home) as app:
        (conv,) = app.list_conversations()
        with app.database.session() as session:
            from envloop.store.models import Query

            statuses = [q.status for q in session.query(Query).filter_by(conversation_id=conv.id)
                        .order_by(Query.position)]
        assert statuses == ["done", "interrupted", "done"]


def test_a_graceful_stop_cancels_the_running_turn_and_says_so(fake: Any, start_bot: Callable[..., BotProcess],
                                                              tmp_path: Path, data_home: Path) -> None:
    bot = start_bot("--model", write_replay(tmp_path / "r.json", {"reply": code("answer(1)"), "delay": 60}))
    fake.send_text(ALICE, ALICE, "Take your time")
    answer_in(fake, ALICE, "iteration 1/8")
    fake.send_text(ALICE, ALICE, "And then this")
    answer_in(fake, ALICE, "Queued")
    assert bot.stop() == 0
    assert "the bot is stopping" in answer_in(fake, ALICE, "cancelled")["text"]
    answer_in(fake, ALICE, "1 queued message(s) were not processed")
    with open_app(data_home) as app:
        assert [t["status"] for t in app.last_turns("telegram")] == ["cancelled"]


def test_it_refuses_to_start_without_an_allowlist_or_a_token(fake: Any, start_bot: Callable[..., BotProcess],
                                                             tmp_path: Path) -> None:
    model = write_replay(tmp_path / "r.json", "unused")
    bot = start_bot("--model", model, allowed=None, wait=False)
    assert bot.proc.wait(timeout=60) == 1
    assert "ENVLOOP_TELEGRAM_ALLOWED" in bot.log() and "--allow-anyone" in bot.log()
    bot = start_bot("--model", model, allowed="12,abc", wait=False)
    assert bot.proc.wait(timeout=60) == 1 and "'abc' is not one" in bot.log()
    bot = start_bot("--model", model, env={"ENVLOOP_TELEGRAM_TOKEN": ""}, wait=False)
    assert bot.proc.wait(timeout=60) == 1 and "ENVLOOP_TELEGRAM_TOKEN" in bot.log()
    assert fake.calls == []  # none of them so much as said hello to the Bot API
    bot = start_bot("--model", model, env={"ENVLOOP_TELEGRAM_TOKEN": "1:wrongwrongwrong"}, wait=False)
    assert bot.proc.wait(timeout=60) == 1 and "rejected the token" in bot.log()
    bot = start_bot("--model", model, "--allow-anyone", allowed=None)
    fake.send_text(STRANGER, STRANGER, "/help")
    answer_in(fake, STRANGER, "/rollback")


# -- units ----------------------------------------------------------------------------------


def test_split_html_keeps_every_message_valid_and_under_the_limit() -> None:
    from envloop.channels.telegram.format import Span, spans_from_markdown, split_html

    text = "intro `a<b` & more\n" * 300 + "```python\n" + "if a < b and c > d: pass\n" * 400 + "```\ntail 😀" * 50
    messages = split_html(spans_from_markdown(text), limit=1000)
    assert len(messages) > 10
    for message in messages:
        assert len(message.encode("utf-16-le")) // 2 <= 1000
        assert fake_telegram.html_problem(message) is None, message
    assert any(m.startswith('<pre><code class="language-python">') for m in messages[1:])  # a cut block reopens
    assert split_html([Span("x" * 2500)], limit=1000) == ["x" * 1000, "x" * 1000, "x" * 500]
    assert split_html([Span("  \n ")]) == []


def test_progress_folds_engine_events_into_one_status() -> None:
    from envloop.channels.telegram.format import Progress

    progress = Progress()
    progress.apply("iteration_started", {"iteration": 2, "max_iterations": 8})
    progress.apply("block_started", {"position": 0})
    progress.apply("definition_changed", {"name": "a<b", "version": 3, "kind": "value"})
    progress.apply("block_finished", {"position": 0, "error": "NameError: x"})
    text = progress.html()
    assert "iteration 2/8" in text and "a&lt;b v3" in text and "1 block error" in text
    assert fake_telegram.html_problem(text) is None


def test_status_edits_are_rate_limited_and_end_on_the_newest_text() -> None:
    import asyncio
    import time

    from envloop.channels.telegram.turns import StatusMessage

    class Bot:
        def __init__(self) -> None:
            self.edits: list[tuple[float, str]] = []

        async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Any:
            return type("Message", (), {"message_id": 1})()

        async def edit_message_text(self, text: str, **kwargs: Any) -> None:
            self.edits.append((time.monotonic(), text))

        async def send_chat_action(self, *args: Any) -> None:
            pass

    async def run(bot: Bot) -> None:
        status = StatusMessage(bot, 1, interval=0.2)
        await status.start("0")
        for n in range(1, 31):
            status.show(str(n))
            await asyncio.sleep(0.01)
        await status.finish("done")

    bot = Bot()
    asyncio.run(run(bot))
    assert bot.edits[-1][1] == "done" and len(bot.edits) < 10  # 31 updates, a handful of edits
    gaps = [b[0] - a[0] for a, b in zip(bot.edits, bot.edits[1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps), gaps


def test_allowlist_parsing_and_access() -> None:
    from envloop.channels.telegram.access import Access, parse_allowed
    from envloop.errors import ChannelError

    assert parse_allowed(" 12, 34 ,,") == {12, 34} and parse_allowed(None) == frozenset()
    with pytest.raises(ChannelError):
        parse_allowed("12;34")
    assert Access(frozenset({12})).allows(12) and not Access(frozenset({12})).allows(13)
    assert Access(anyone=True).allows(13) and not Access(anyone=True).allows(None)


def test_redacting_formatter_masks_the_token_everywhere(tmp_path: Path) -> None:
    from envloop.channels.telegram.redact import RedactingFormatter, secret_forms

    logger = logging.getLogger("test.telegram.redact")
    logger.propagate = False
    path = tmp_path / "log.txt"
    handler = logging.FileHandler(path)
    handler.setFormatter(RedactingFormatter(secret_forms(TOKEN)))
    logger.addHandler(handler)
    try:
        logger.warning("HTTP Request: POST http://x/bot%s/getUpdates", TOKEN)
        try:
            raise RuntimeError(f"failed: /bot{TOKEN.replace(':', '%3A')}/sendMessage")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = path.read_text()
    assert TOKEN.split(":")[1] not in text and text.count("<redacted>") >= 2 and "getUpdates" in text


def test_the_status_message_shows_the_reply_while_it_streams(fake: Any, start_bot: Callable[..., BotProcess],
                                                             tmp_path: Path) -> None:
    words = " ".join(f"word{n}" for n in range(24))
    reply = {"reply": code("answer('streamed')", f"Reading {words} last."), "chunk_delay": 0.3}
    start_bot("--model", write_replay(tmp_path / "r.json", reply))
    fake.send_text(ALICE, ALICE, "Read slowly")
    answer_in(fake, ALICE, "streamed")
    shown = [c.params["text"] for c in fake.calls_to("editMessageText", ALICE)]
    partial = [text for text in shown if "the model is writing" in text and "word0" in text and "last." not in text]
    assert partial, shown  # an edit showed the first words before the rest of the reply had arrived
    assert all("<i>" in text and "</i>" in text for text in partial)


def test_cancel_stops_the_running_turn_mid_reply(fake: Any, start_bot: Callable[..., BotProcess],
                                                 tmp_path: Path) -> None:
    words = " ".join(f"word{n}" for n in range(40))
    reply = {"reply": code("answer('never')", f"Reading {words}."), "chunk_delay": 2.0}
    start_bot("--model", write_replay(tmp_path / "r.json", reply))
    fake.send_text(ALICE, ALICE, "Read very slowly")
    fake.wait_for(lambda: any("word0" in c.params["text"] for c in fake.calls_to("editMessageText", ALICE)),
                  what="the reply streaming into the status message")
    fake.send_text(ALICE, ALICE, "/cancel")  # not queued behind the turn: it stops it
    answer_in(fake, ALICE, "This turn was cancelled")
    assert not any("never" in m["text"] for m in fake.bot_messages(ALICE))
    fake.send_text(ALICE, ALICE, "/cancel")
    answer_in(fake, ALICE, "Nothing is running.")
