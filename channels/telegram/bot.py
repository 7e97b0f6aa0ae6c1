"""The Telegram bot: access gate, handlers, one queue per chat, turns in worker threads.

How work flows. Updates are dispatched one at a time, in the order Telegram
sent them, and no handler ever waits: a handler checks access and appends a
job to its chat's queue, or hands a short reply (/help, a refusal, a button's
answer) to a background task. Each chat with queued jobs has one asyncio task
draining its queue, so a chat's messages and commands run strictly in order,
behind its running turn, while different chats' tasks run side by side (each
turn blocks a thread from a pool, never the event loop). Because dispatch
never blocks, updates are handled concurrently with every running turn — a
button press answering an approval is handled while the turn that asked
waits — and dispatching in order is what keeps each chat's jobs in order
(PTB's ``concurrent_updates`` would give that ordering up for nothing).

The conversation layer does all the work; this module only moves text between
Telegram and ``Envloop``. Every turn is in the database as it runs, so a crash
loses no conversation: on start, turns a dead process left running are marked
interrupted (by ``Envloop.environment``) and their chats are told.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import BotCommand, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from envloop.channels.telegram.access import Access, refusal
from envloop.channels.telegram.commands import COMMANDS, help_text, run_command
from envloop.channels.telegram.format import Progress, answer_messages, escape, final_status
from envloop.channels.telegram.turns import Approvals, StatusMessage, send_html
from envloop.conversation import Envloop, Event
from envloop.errors import EnvloopError

__all__ = ["CHANNEL", "DEFAULT_API_URL", "BotConfig", "TelegramChannel", "run_bot"]

logger = logging.getLogger("envloop.channels.telegram")

CHANNEL = "telegram"
DEFAULT_API_URL = "https://api.telegram.org"

Job = Callable[[], Awaitable[None]]
Context = ContextTypes.DEFAULT_TYPE
_NEW_MESSAGE = filters.UpdateType.MESSAGE  # edits of old messages start nothing


@dataclass(frozen=True)
class BotConfig:
    """Everything the bot needs besides the Envloop; the token is kept out of repr (and so out of logs)."""

    token: str = field(repr=False)
    access: Access
    api_url: str = DEFAULT_API_URL
    model: str | None = None
    max_iterations: int = 8
    approval_timeout: float = 120.0
    edit_interval: float = 1.0
    poll_timeout: float = 10.0
    max_parallel_turns: int = 8
    stop_timeout: float = 10.0


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _title(text: str | None) -> str | None:
    if not text:
        return None
    first = text.strip().split("\n", 1)[0]
    return first[:60] + ("…" if len(first) > 60 else "")


def _chat_id(external_id: str | None) -> int | None:
    """The chat of a conversation's external id; archived ones (``ID#archived-N``) have none."""
    try:
        return int(external_id) if external_id is not None else None
    except ValueError:
        return None


class TelegramChannel:
    """The bot for one Envloop: build the Application with :meth:`build`, then run it."""

    def __init__(self, app: Envloop, config: BotConfig) -> None:
        self.app, self.config = app, config
        app.channel = "telegram"  # named to another process that waits for a conversation a chat here holds
        self._queues: dict[int, deque[Job]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._running: dict[int, int] = {}  # chat id -> conversation id of its running turn
        self._conversations: dict[int, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=config.max_parallel_turns, thread_name_prefix="envloop-turn")
        self._stopping = False
        self.application: Application | None = None
        self.approvals: Approvals | None = None

    @property
    def bot(self) -> Any:
        assert self.application is not None, "call build() first"
        return self.application.bot

    def build(self) -> Application:
        root = self.config.api_url.rstrip("/")
        application = (
            Application.builder().token(self.config.token)
            .base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")  # the library appends the token
            .post_init(self._post_init).post_stop(self._post_stop)
            .build()
        )
        self.application = application
        self.approvals = Approvals(application.bot, timeout=self.config.approval_timeout)
        application.add_handler(TypeHandler(Update, self._gate), group=-1)
        application.add_handler(CommandHandler(["help", "start"], self._on_help, filters=_NEW_MESSAGE))
        application.add_handler(CommandHandler("new", self._on_new, filters=_NEW_MESSAGE))
        application.add_handler(CommandHandler("cancel", self._on_cancel, filters=_NEW_MESSAGE))
        for name, _, _ in COMMANDS:
            if name not in ("new", "help", "cancel"):
                application.add_handler(CommandHandler(name, self._command_handler(name), filters=_NEW_MESSAGE))
        application.add_handler(CallbackQueryHandler(self._on_button, pattern=rf"^{Approvals.PREFIX}:"))
        application.add_handler(MessageHandler(_NEW_MESSAGE & filters.COMMAND, self._on_unknown))
        application.add_handler(MessageHandler(_NEW_MESSAGE & filters.TEXT, self._on_text))
        application.add_handler(MessageHandler(_NEW_MESSAGE, self._on_other))
        application.add_error_handler(self._on_error)
        return application

    # -- life cycle ---------------------------------------------------------------

    async def _post_init(self, application: Application) -> None:
        """Register the command menu, then queue a notice for every chat whose turn a dead process left running."""
        try:
            await application.bot.set_my_commands([BotCommand(name, about) for name, _, about in COMMANDS])
        except TelegramError as exc:
            logger.warning("could not register the command menu: %s", exc)
        rows = await asyncio.to_thread(self.app.last_turns, CHANNEL)
        for row in rows:
            chat_id = _chat_id(row["external_id"])
            if row["status"] == "running" and chat_id is not None:
                self._enqueue(chat_id, functools.partial(self._recover, chat_id, row))
        who = "anyone" if self.config.access.anyone else f"{len(self.config.access.allowed)} allowed user(s)"
        logger.info("envloop Telegram bot @%s is running for %s", application.bot.username, who)

    async def _recover(self, chat_id: int, row: dict[str, Any]) -> None:
        cid = row["conversation_id"]
        await asyncio.to_thread(self.app.environment, cid)  # marks the orphaned turn interrupted, restores names
        now = await asyncio.to_thread(self.app.last_turns, CHANNEL, conversation_id=cid)
        if not now or now[0]["turn"] != row["turn"] or now[0]["status"] != "interrupted":
            return  # another process finished it after all
        self._conversations[chat_id] = cid
        quoted = escape(_title(row["text"]) or "")
        await send_html(self.bot, chat_id,
                        f"⚠️ envloop restarted while it was working on your message “{quoted}”, so that "
                        "turn was <b>interrupted</b>. Everything stored before, including all your names, is kept. "
                        "Send the message again to retry.")

    async def _post_stop(self, application: Application) -> None:
        """Cancel running turns (their chats are told), deny open questions, drop what is queued, with a bound."""
        self._stopping = True
        if self.approvals is not None:
            self.approvals.deny_all()
        for cid in list(self._running.values()):
            self.app.cancel(cid)
        workers = list(self._workers.values())
        if workers:
            _, pending = await asyncio.wait(workers, timeout=self.config.stop_timeout)
            for task in pending:
                task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the per-chat queues ----------------------------------------------------------

    def _enqueue(self, chat_id: int, job: Job) -> bool:
        """Queue a job for a chat; True when it waits behind another (a turn is running)."""
        queue = self._queues.setdefault(chat_id, deque())
        queue.append(job)
        if chat_id in self._workers:
            return True
        self._workers[chat_id] = asyncio.get_running_loop().create_task(self._drain(chat_id, queue))
        return False

    async def _drain(self, chat_id: int, queue: deque[Job]) -> None:
        try:
            while queue and not self._stopping:
                await self._guarded(chat_id, queue.popleft())
            if queue:
                dropped = len(queue)
                queue.clear()
                await self._notify(chat_id, f"⏹ The bot is stopping; {dropped} queued message(s) were not "
                                            "processed. Send them again when it is back.")
        finally:
            self._workers.pop(chat_id, None)
            if not queue:
                self._queues.pop(chat_id, None)

    async def _guarded(self, chat_id: int, job: Job) -> None:
        """Run one job; whatever goes wrong, the chat hears one line and the queue goes on."""
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except EnvloopError as exc:
            await self._notify(chat_id, f"⚠️ {escape(_line(exc))}")
        except Exception:
            logger.exception("a job for chat %s failed", chat_id)
            await self._notify(chat_id, "⚠️ Something went wrong in the bot. The conversation itself is safe; "
                                        "try again.")

    async def _notify(self, chat_id: int, html: str, reply_to: int | None = None) -> None:
        try:
            await send_html(self.bot, chat_id, html, reply_to=reply_to)
        except TelegramError as exc:
            logger.warning("could not send a message to chat %s: %s", chat_id, exc)

    def _reply(self, context: Context, chat_id: int, html: str, reply_to: int | None = None) -> None:
        """Reply in the background: dispatch must never stall on Telegram (flood control can last a minute)."""
        context.application.create_task(self._notify(chat_id, html, reply_to))

    async def _conversation(self, chat_id: int, title: str | None = None) -> int:
        info = await asyncio.to_thread(self.app.open_conversation, channel=CHANNEL, external_id=str(chat_id),
                                       title=_title(title))
        self._conversations[chat_id] = info.id
        return info.id

    # -- jobs ---------------------------------------------------------------------------

    async def _turn(self, chat_id: int, user_id: int, text: str, message_id: int) -> None:
        """One turn: a status message edited as it runs, then the answer with its footer."""
        cid = await self._conversation(chat_id, title=text)
        status = StatusMessage(self.bot, chat_id, interval=self.config.edit_interval, reply_to=message_id)
        progress = Progress()
        await status.start(progress.html())
        loop = asyncio.get_running_loop()

        def on_event(event: Event) -> None:  # runs in the turn's thread
            loop.call_soon_threadsafe(self._progress, status, progress, event)

        assert self.approvals is not None
        send = functools.partial(self.app.send, text, conversation_id=cid, model=self.config.model,
                                 max_iterations=self.config.max_iterations, on_event=on_event,
                                 approve=self.approvals.approver(chat_id, user_id, loop))
        self._running[chat_id] = cid
        try:
            result = await loop.run_in_executor(self._pool, send)
        except BaseException as exc:
            await status.finish(f"<b>⚠️ Failed</b>: {escape(_line(exc))}")
            raise
        finally:
            self._running.pop(chat_id, None)
        await status.finish(final_status(result))
        for chunk in answer_messages(result, stopping=self._stopping):
            await send_html(self.bot, chat_id, chunk)

    @staticmethod
    def _progress(status: StatusMessage, progress: Progress, event: Event) -> None:
        progress.apply(event.kind, event.data)
        if event.kind not in ("turn_started", "answer", "error", "budget"):
            status.show(progress.html())

    async def _command(self, chat_id: int, name: str, args: list[str]) -> None:
        cid = await self._conversation(chat_id)
        for html in await asyncio.to_thread(run_command, self.app, cid, name, args) or ["(nothing to show)"]:
            await send_html(self.bot, chat_id, html)

    async def _new(self, chat_id: int) -> None:
        old = self._conversations.get(chat_id)
        info = await asyncio.to_thread(self.app.new_channel_conversation, channel=CHANNEL, external_id=str(chat_id))
        self._conversations[chat_id] = info.id
        if old is not None and old != info.id:
            await asyncio.to_thread(self.app.evict, old)  # its worker; the conversation stays in the database
        await send_html(self.bot, chat_id, f"🆕 Started a fresh conversation ({info.id}). "
                                           "The previous one is kept in the database.")

    # -- handlers -------------------------------------------------------------------------

    async def _gate(self, update: Update, context: Context) -> None:
        """Group -1: a stranger gets one refusal and nothing else happens (nothing looked up, run or stored).

        In a group only allowed members are answered; strangers there are ignored
        quietly rather than refused after every message they write.
        """
        user = update.effective_user
        if self.config.access.allows(user.id if user else None):
            return
        logger.info("refused an update from user %s", user.id if user else "(none)")
        if update.callback_query is not None:
            context.application.create_task(update.callback_query.answer("Sorry, this bot is private."))
        elif update.message is not None and update.message.chat.type == ChatType.PRIVATE:
            self._reply(context, update.message.chat_id, escape(refusal(user.id if user else None)))
        raise ApplicationHandlerStop

    async def _on_text(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        assert message is not None and message.text is not None and user is not None
        job = functools.partial(self._turn, message.chat_id, user.id, message.text, message.message_id)
        if self._enqueue(message.chat_id, job):
            self._reply(context, message.chat_id, "⏳ Queued: I will start on this when the current turn ends.",
                        reply_to=message.message_id)

    def _command_handler(self, name: str) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
        async def handle(update: Update, context: Context) -> None:
            assert update.message is not None
            chat_id = update.message.chat_id
            self._enqueue(chat_id, functools.partial(self._command, chat_id, name, list(context.args or [])))

        return handle

    async def _on_new(self, update: Update, context: Context) -> None:
        assert update.message is not None
        self._enqueue(update.message.chat_id, functools.partial(self._new, update.message.chat_id))

    async def _on_cancel(self, update: Update, context: Context) -> None:
        """Stop the chat's running turn now (not queued behind it): the model's stream and any block."""
        assert update.message is not None
        chat_id = update.message.chat_id
        cid = self._running.get(chat_id)
        cancelled = cid is not None and await asyncio.to_thread(self.app.cancel, cid)
        self._reply(context, chat_id, "⏹ Cancelling the running turn…" if cancelled else "Nothing is running.")

    async def _on_help(self, update: Update, context: Context) -> None:
        assert update.message is not None
        self._reply(context, update.message.chat_id, help_text())

    async def _on_unknown(self, update: Update, context: Context) -> None:
        assert update.message is not None
        self._reply(context, update.message.chat_id, "Unknown command. /help lists the ones I know.")

    async def _on_other(self, update: Update, context: Context) -> None:
        assert update.message is not None
        self._reply(context, update.message.chat_id, "I can only read text messages.")

    async def _on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and self.approvals is not None
        chat_id = query.message.chat.id if query.message is not None else None
        context.application.create_task(query.answer(self.approvals.answer(query.data or "", chat_id,
                                                                           query.from_user.id)))

    async def _on_error(self, update: object, context: Context) -> None:
        logger.error("error while handling an update", exc_info=context.error)


def run_bot(app: Envloop, config: BotConfig) -> None:
    """Run the bot until SIGINT or SIGTERM (long polling; no webhook, no open port)."""
    channel = TelegramChannel(app, config)
    channel.build().run_polling(
        allowed_updates=["message", "callback_query"],
        timeout=timedelta(seconds=config.poll_timeout),
    )
