"""``envloop extensions``: what sandbox code can call, and from which extension."""

from __future__ import annotations

import click

from envloop.channels.cli._app import cli, print_json
from envloop.extensions_api import load_extensions


@cli.command("extensions")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def extensions(as_json: bool) -> None:
    """List the active extensions and the functions each gives sandbox code.

    Extensions come from envloop itself, from installed packages (entry-point
    group envloop.extensions) and from ENVLOOP_EXTENSIONS (comma-separated
    module names). Effects: read, write, or irreversible (asks you first).
    """
    described = load_extensions().describe()
    if as_json:
        print_json(described)
        return
    if not described:
        click.echo("No extensions are active.")
    width = max((len(f["signature"]) for ext in described for f in ext["functions"]), default=0)
    for ext in described:
        click.echo(f"{ext['name']}  ({ext['source']})")
        if not ext["functions"]:
            click.echo("  (no functions; hooks: " + ", ".join(ext["hooks"]) + ")")
        for f in ext["functions"]:
            click.echo(f"  {f['signature']:<{width}}  {f['effect']:<12}  {f['doc']}")
