"""The pieces of a running turn that talk to Telegram: sending, the status message, approval buttons.

A turn runs in a worker thread (``Envloop.send`` blocks); Telegram I/O lives
on the bot's event loop. Events cross from the thread with
``loop.call_soon_threadsafe``; an approval crosses with
``asyncio.run_coroutine_threadsafe`` and the thread waits on that future, so
the turn's lock and sandbox stay untouched while the person decides.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError

from envloop.channels.telegram.format import escape

__all__ = ["Approvals", "StatusMessage", "send_html"]

logger = logging.getLogger("envloop.channels.telegram")

SEND_ATTEMPTS = 3
MAX_RETRY_WAIT = 60.0


def _retry_seconds(exc: RetryAfter) -> float:
    """Flood control's wait, whether the library hands it out as int or timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns while it migrates this attribute to timedelta
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return min(max(seconds, 0.0), MAX_RETRY_WAIT)


async def send_html(bot: Any, chat_id: int, text: str, *, reply_to: int | None = None,
                    markup: InlineKeyboardMarkup | None = None) -> Message:
    """Send one HTML message, waiting out flood control (429) a few times rather than losing an answer."""
    reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_parameters=reply,
                                          reply_markup=markup)
        except RetryAfter as exc:
            if attempt == SEND_ATTEMPTS:
                raise
            await asyncio.sleep(_retry_seconds(exc))
    raise AssertionError("unreachable")


class StatusMessage:
    """One message per turn, edited as the turn progresses, at most once per ``interval`` seconds.

    Telegram throttles edits (and a turn can emit dozens of events a second),
    so ``show`` only records the newest text; one flusher task per message
    edits when the interval allows, always ending on the newest text.
    """

    def __init__(self, bot: Any, chat_id: int, *, interval: float = 1.0, reply_to: int | None = None) -> None:
        self.bot, self.chat_id, self.interval, self.reply_to = bot, chat_id, interval, reply_to
        self.message_id: int | None = None
        self._wanted = self._shown = ""
        self._last = float("-inf")
        self._flusher: asyncio.Task[None] | None = None

    async def start(self, text: str) -> None:
        message = await send_html(self.bot, self.chat_id, text, reply_to=self.reply_to)
        self.message_id, self._wanted, self._shown, self._last = message.message_id, text, text, time.monotonic()
        await self._typing()

    def show(self, text: str) -> None:
        """Ask for ``text`` to be shown; returns at once (called on the loop, from event callbacks)."""
        self._wanted = text
        if self.message_id is not None and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def finish(self, text: str) -> None:
        """Show the final text and wait until it is on screen (or given up on)."""
        self.show(text)
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        throttled = 0
        while self._wanted != self._shown:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            text = self._wanted
            self._last = time.monotonic()
            try:
                await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=self.message_id,
                                                 parse_mode=ParseMode.HTML)
            except RetryAfter as exc:
                self._last = time.monotonic() + _retry_seconds(exc)
                throttled += 1
                if throttled < SEND_ATTEMPTS:
                    continue  # try again after the wait Telegram asked for; then give this text up
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    logger.warning("could not edit the status message in chat %s: %s", self.chat_id, exc)
            except TelegramError as exc:
                logger.warning("could not edit the status message in chat %s: %s", self.chat_id, exc)
            self._shown = text
            await self._typing()

    async def _typing(self) -> None:
        try:
            await self.bot.send_chat_action(self.chat_id, ChatAction.TYPING)
        except TelegramError:
            pass  # a cosmetic hint; never worth failing a turn over


@dataclass
class _Question:
    chat_id: int
    user_id: int  # only the person whose message started the turn may answer (a group has others)
    future: asyncio.Future[bool]


class Approvals:
    """Yes/No questions for irreversible extension calls, answered with inline buttons.

    Silence is a no: a question nobody answers within ``timeout`` seconds is
    denied. (The wait counts against the block's own time limit, so keep the
    timeout below ENVLOOP_TIMEOUT.)
    """

    PREFIX = "approve"

    def __init__(self, bot: Any, *, timeout: float) -> None:
        self.bot, self.timeout = bot, timeout
        self._open: dict[str, _Question] = {}

    def approver(self, chat_id: int, user_id: int, loop: asyncio.AbstractEventLoop) -> Callable[[str, str], bool]:
        """The ``approve`` callback for a turn: runs in the turn's thread and blocks until answered."""

        def approve(name: str, description: str) -> bool:
            future = asyncio.run_coroutine_threadsafe(self.ask(chat_id, user_id, name, description), loop)
            try:
                return future.result(timeout=self.timeout + 30)
            except Exception:  # timeout, shutdown, Telegram down: deny, never hang the turn
                future.cancel()
                return False

        return approve

    async def ask(self, chat_id: int, user_id: int, name: str, description: str) -> bool:
        key = secrets.token_hex(6)
        question = _Question(chat_id, user_id, asyncio.get_running_loop().create_future())
        markup = InlineKeyboardMarkup([[
            InlineKeyboardButton("✅ Yes", callback_data=f"{self.PREFIX}:{key}:yes"),
            InlineKeyboardButton("❌ No", callback_data=f"{self.PREFIX}:{key}:no"),
        ]])
        text = (f"🔐 The code wants to call <b>{escape(name)}</b>, which cannot be undone:\n"
                f"{escape(description)}\n\nAllow it?")
        self._open[key] = question
        try:
            message = await send_html(self.bot, chat_id, text, markup=markup)
            try:
                allowed = await asyncio.wait_for(question.future, self.timeout)
                outcome = "✅ Allowed." if allowed else "❌ Denied."
            except TimeoutError:
                allowed, outcome = False, f"❌ Denied: no answer within {self.timeout:.0f} s."
            await self._settle(message, f"{text}\n\n<b>{outcome}</b>")
            return allowed
        finally:
            self._open.pop(key, None)

    async def _settle(self, message: Message, text: str) -> None:
        """Replace the question with its outcome; removing the buttons stops late presses."""
        try:
            await self.bot.edit_message_text(text, chat_id=message.chat_id, message_id=message.message_id,
                                             parse_mode=ParseMode.HTML, reply_markup=None)
        except TelegramError as exc:
            logger.warning("could not update an approval question: %s", exc)

    def answer(self, data: str, chat_id: int | None, user_id: int | None) -> str:
        """Record a button press (``approve:KEY:yes|no``); the text to show the presser."""
        _, key, choice = (data.split(":") + ["", ""])[:3]
        question = self._open.get(key)
        if question is None or question.chat_id != chat_id or question.future.done():
            return "This question is no longer open."
        if question.user_id != user_id:
            return "Only the person who asked can answer this."
        question.future.set_result(choice == "yes")
        return "Allowed." if choice == "yes" else "Denied."

    def deny_all(self) -> None:
        """On shutdown: every open question is answered no."""
        for question in list(self._open.values()):
            if not question.future.done():
                question.future.set_result(False)
