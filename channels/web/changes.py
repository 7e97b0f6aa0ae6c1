"""The one place the web channel learns that a conversation changed in the database.

A turn run from the CLI, the terminal chat or Telegram on the same database
(another process) must appear on an open page without a reload. This module
answers "has conversation N changed since I last looked?" and nothing else;
the page then re-reads the transcript. On SQLite that is a poll of a cheap
signature (newest turn, block, iteration, model reply and version, the
last turn's status); a back end with notifications (PostgreSQL's LISTEN/NOTIFY) can
replace :func:`signature` and :func:`wait_for_change` without the rest of the
channel noticing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from envloop.store.models import Block, Conversation, DefinitionVersion, Iteration, Query

__all__ = ["POLL_SECONDS", "signature", "wait_for_change"]

POLL_SECONDS = 0.5


def signature(app: Any, conversation_id: int) -> tuple[Any, ...]:
    """What a person would notice changing in a conversation, in one read-only query."""
    cid = conversation_id
    last_status = (select(Query.status).where(Query.conversation_id == cid)
                   .order_by(Query.position.desc()).limit(1).scalar_subquery())
    stmt = select(
        select(func.max(Query.id)).where(Query.conversation_id == cid).scalar_subquery(),
        last_status,
        select(func.max(Iteration.id)).join(Query, Iteration.query_id == Query.id)
        .where(Query.conversation_id == cid).scalar_subquery(),
        select(func.count(Iteration.raw_reply)).join(Query, Iteration.query_id == Query.id)
        .where(Query.conversation_id == cid).scalar_subquery(),
        select(func.max(Block.id)).where(Block.conversation_id == cid).scalar_subquery(),
        select(func.max(DefinitionVersion.id)).where(DefinitionVersion.conversation_id == cid).scalar_subquery(),
        select(Conversation.title).where(Conversation.id == cid).scalar_subquery(),
    )
    with app.database.session() as session:
        return tuple(session.execute(stmt).one())


async def wait_for_change(app: Any, conversation_id: int, seen: tuple[Any, ...] | None,
                          timeout: float) -> tuple[Any, ...]:
    """Wait up to ``timeout`` seconds for the conversation's signature to differ from ``seen``;
    return the signature now (equal to ``seen`` when nothing changed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        now = await run_in_threadpool(signature, app, conversation_id)
        if now != seen or loop.time() >= deadline:
            return now
        await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0.0)))
