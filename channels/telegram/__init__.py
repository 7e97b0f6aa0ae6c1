"""The Telegram bot channel (python-telegram-bot), one conversation per chat.

``bot``       the Application: access gate, handlers, per-chat queues, turns in threads
``turns``     sending, the rate-limited status message, Yes/No approval buttons
``commands``  /vars /why /history /rollback /undo /cost (plain functions over Envloop)
``format``    Telegram HTML: escaping, code in <pre>, splitting under 4,096 characters
``access``    the allowlist; ``redact`` keeps the token out of logs

Run it with ``envloop telegram`` (channels/cli/telegram_cmds.py).
"""
