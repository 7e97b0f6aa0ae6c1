"""The terminal chat: prompt-toolkit input, rich rendering, slash commands."""
