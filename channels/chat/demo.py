"""``envloop demo``: a short conversation played through the real engine with a replayed model.

Nothing is faked but the model: the replies below are fed to the engine by
envloop's replay model, the blocks run in a real sandbox, the names are
versioned in a real database, and the lines are handled by the same
:meth:`ChatApp.handle` a person's typing goes through. So a newcomer sees the
product — a turn over two iterations, the var index, a rollback, a why —
with no key and no network. The replies are kept here, as data, so the demo
needs no file beside the package.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from envloop.channels.chat.app import ChatApp
from envloop.channels.chat.render import View, make_console
from envloop.conversation import Envloop

__all__ = ["REPLIES", "SCRIPT", "play"]

FENCE = "```"


def _reply(thinking: str, code: str) -> str:
    return f"{thinking}\n\n{FENCE}python\n{code.strip()}\n{FENCE}\n"


#: What the replayed model answers, in order (iterations of every turn).
REPLIES: list[str] = [
    _reply(
        "I'll put the invoices in a list first, with the tax rate as its own name.",
        """
invoices = [
    {"client": "Acme", "month": "March", "amount": 1200.0},
    {"client": "Globex", "month": "March", "amount": 850.0},
    {"client": "Initech", "month": "April", "amount": 430.0},
]
tax_rate = 0.20
print(len(invoices), "invoices,", sum(i["amount"] for i in invoices), "before tax")
""",
    ),
    _reply(
        "Three invoices. Now a helper for the tax, and the March total.",
        """
def with_tax(amount):
    return round(amount * (1 + tax_rate), 2)

march = [i for i in invoices if i["month"] == "March"]
total = with_tax(sum(i["amount"] for i in march))
answer(f"The {len(march)} March invoices come to **{total:,.2f}** with {tax_rate:.0%} tax.")
""",
    ),
    _reply(
        "Same computation with the reduced rate.",
        """
tax_rate = 0.10
total = with_tax(sum(i["amount"] for i in march))
answer(f"At {tax_rate:.0%} the March total is **{total:,.2f}**.")
""",
    ),
]

#: What the demo "types", in order.
SCRIPT: list[str] = [
    "What do the March invoices come to, with 20% tax?",
    "/vars",
    "Use the reduced rate of 10% instead.",
    "/rollback tax_rate 1",
    "!with_tax(100)",
    "/why total",
]


def play(db: str | None = None) -> None:
    """Play :data:`SCRIPT` in ``db`` (default: a temporary database, removed afterwards) and print it."""
    with tempfile.TemporaryDirectory(prefix="envloop-demo-") as scratch:
        replies = Path(scratch) / "demo-replies.json"
        replies.write_text(json.dumps(REPLIES), encoding="utf-8")
        with Envloop.open(db or str(Path(scratch) / "demo.db")) as app:
            _play(app, f"replay:{replies}")


def _play(app: Envloop, model: str) -> None:
    console, glyphs = make_console()
    view = View(console, glyphs)
    chat = ChatApp(app, view, model=model)
    view.info("envloop demo: a replayed model, a real sandbox and database. Nothing is sent anywhere.")
    for line in SCRIPT:
        view.print("")
        view.echo(chat.prompt, line)
        chat.handle(line)
    view.print("")
    view.info("That was the demo. Start your own with `envloop chat` (set ENVLOOP_MODEL first, "
              "or use !code and /commands without a model).")
