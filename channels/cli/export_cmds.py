"""``envloop export``: a conversation as a Jupyter notebook, a Python script or Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from envloop.channels.cli._app import AppContext, cli, fail, pass_app
from envloop.export import FORMATS, ExportFormat


def _format_for(output: Path | None) -> ExportFormat:
    """The format named by the output file's suffix; Markdown when it names none we know."""
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return next((fmt for fmt in FORMATS if fmt == suffix), "md")


@cli.command("export")
@click.option("--conversation", "conversation_id", type=int, metavar="ID",
              help="Conversation id (default: the most recent).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="ipynb, py or md (default: from -o's suffix, else md).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write to FILE instead of standard output.")
@click.option("--redact/--no-redact", "redact", default=None,
              help="Replace e-mail addresses, phone numbers, card numbers, IBANs, IP addresses, API keys and "
                   "configured patterns with placeholders (default: [export] redact in config.toml, else off).")
@pass_app
def export(ctx: AppContext, conversation_id: int | None, fmt: ExportFormat | None, output: Path | None,
           redact: bool | None) -> None:
    """Write a conversation's turns, with their blocks and outputs, as a notebook, a script or Markdown.

    The notebook (nbformat 4) opens in Jupyter with every block as a code cell
    and its output; the script keeps outputs as "# >>> " comments.

    With --redact the same value always gets the same placeholder (<EMAIL_1>,
    <CARD_2> ...), and a summary of what was replaced goes to standard error.
    """
    app = ctx.app()
    cid = app.resolve(conversation_id)
    fmt = fmt or _format_for(output)
    text = app.export(cid, fmt)
    if redact is None:
        from envloop import settings

        redact = settings.section("export").get("redact") is True
    if redact:
        from envloop.redact import redactor_from_config

        redactor = redactor_from_config()
        text = redactor.redact_document(text, fmt)
        click.echo(redactor.summary_line(), err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"wrote conversation {cid} as {fmt} to {output}", err=True)
