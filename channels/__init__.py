"""Channels: terminal chat, Telegram, CLI helpers. I/O only; they call envloop.conversation."""
