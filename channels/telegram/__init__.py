"""The Telegram bot channel (python-telegram-bot), one conversation per chat."""
