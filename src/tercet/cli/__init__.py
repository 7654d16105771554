"""The ``tercet`` command line: a thin layer of subcommands over the Python API."""

from __future__ import annotations

import sys

import typer

from tercet.cli import (
    config_cmd,
    demo_cmd,
    export_cmd,
    gc_cmd,
    insights_cmd,
    service_cmd,
    share_cmd,
    table_cmd,
)
from tercet.errors import TercetError

app = typer.Typer(
    name="tercet",
    help="Model-guided, interactive dataset debugging: versioned tables, runs with per-sample "
    "metrics, and a browser dashboard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (config_cmd, table_cmd, service_cmd, demo_cmd, share_cmd, gc_cmd, insights_cmd):
    module.register(app)
export_cmd.register(app)


def _print_version(value: bool) -> None:
    # Eager, so it runs while the options are parsed: before Click asks for a subcommand.
    if value:
        from tercet._version import __version__

        typer.echo(f"tercet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_print_version,
        is_eager=True,
    ),
) -> None:  # fmt: skip
    """The options every command shares."""


def main() -> None:
    """Console entry point: Tercet errors print one clear line and exit 1, no traceback."""
    try:
        app()
    except TercetError as exc:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
