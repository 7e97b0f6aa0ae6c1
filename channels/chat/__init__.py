"""The terminal chat: prompt-toolkit input, rich rendering, slash commands.

``envloop chat`` opens it and ``envloop demo`` plays a replayed conversation
through it. It is a channel: every action goes through
:class:`envloop.conversation.Envloop`; nothing here decides anything about
conversations, versions or models.

Modules: ``app`` (the session and its loops), ``runner`` (a turn in a worker
thread, events and approvals back on the main thread, Ctrl-C as cancel),
``render`` (the console, ASCII fallback, live rendering of events, folding),
``tables`` (what the slash commands print), ``commands`` (the slash
commands), ``editor`` (prompt-toolkit: keys, history, completion), ``demo``.
"""
