"""Who may talk to the bot: an allowlist of Telegram user ids, or (explicitly) anyone.

A bot's username is public and findable, so anyone can message it; every
message makes an LLM run code on this machine. Hence the default is closed:
the bot refuses to start without an allowlist unless told ``--allow-anyone``,
and a stranger gets one polite refusal per message, before anything is looked
up, run or stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from envloop.errors import ChannelError

__all__ = ["Access", "parse_allowed", "refusal"]


def parse_allowed(text: str | None) -> frozenset[int]:
    """Parse ``"123, 456"`` into user ids; a typo is an error rather than a silently smaller list."""
    ids: set[int] = set()
    for raw in (text or "").split(","):
        item = raw.strip()
        if not item:
            continue
        if not item.lstrip("-").isdigit():
            raise ChannelError(
                f"ENVLOOP_TELEGRAM_ALLOWED must be comma-separated numeric Telegram user ids; {item!r} is not one"
            )
        ids.add(int(item))
    return frozenset(ids)


@dataclass(frozen=True)
class Access:
    """The access rule: ``allowed`` user ids, or ``anyone``."""

    allowed: frozenset[int] = frozenset()
    anyone: bool = False

    def allows(self, user_id: int | None) -> bool:
        """Updates without a user (channel posts) are never allowed: nobody could be refused or told."""
        if user_id is None:
            return False
        return self.anyone or user_id in self.allowed


def refusal(user_id: int | None) -> str:
    """The one reply a stranger gets; it names their id so the bot's owner can add them if they wish."""
    who = f" Your Telegram user id is {user_id}; the bot's owner can add it to the allowlist." if user_id else ""
    return "Sorry, this is a private envloop bot and it only answers the people it was set up for." + who
