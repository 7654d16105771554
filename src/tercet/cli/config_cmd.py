"""``tercet config`` and ``tercet alias``: inspect configuration and manage URL aliases."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from tercet import aliases, config

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
alias_app = typer.Typer(
    help="Manage URL aliases like <PROJECT_DATA> that keep stored URLs independent of where "
    "data lives.",
    no_args_is_help=True,
)


@config_app.command("show")
def config_show() -> None:
    """Print every configuration key, its effective value and where it came from."""
    cfg = config.load()
    table = RichTable(title=f"Tercet configuration (file: {cfg.path})")
    table.add_column("key")
    table.add_column("value")
    table.add_column("source")
    for key, value, source in cfg.items():
        if key == "service.token" and value:
            value = str(value)[:4] + "…"
        table.add_row(key, escape("" if value is None else str(value)), escape(source))
    Console().print(table)


@config_app.command("path")
def config_path() -> None:
    """Print the path of the config file."""
    typer.echo(str(config.config_path()))


@alias_app.command("list")
def alias_list() -> None:
    """List aliases with their values and where each is set."""
    entries = aliases.list()
    if not entries:
        typer.echo("No aliases set. Add one with `tercet alias set NAME VALUE`.")
        return
    table = RichTable()
    table.add_column("alias")
    table.add_column("value")
    table.add_column("source")
    for name, (value, source) in sorted(entries.items()):
        table.add_row(escape(f"<{name}>"), escape(value), escape(source))
    Console().print(table)


@alias_app.command("set")
def alias_set(
    name: str = typer.Argument(..., help="Alias name: capitals, digits, underscores."),
    value: str = typer.Argument(..., help="Folder or URL it stands for (path, s3://…)."),
) -> None:
    """Save an alias in the user config file."""
    aliases.check_alias_name(name)
    path = config.save_file_values({f"aliases.{name}": aliases.clean_value(value)})
    typer.echo(f"<{name}> = {aliases.clean_value(value)}  (saved in {path})")


@alias_app.command("unset")
def alias_unset(name: str = typer.Argument(..., help="Alias name.")) -> None:
    """Remove an alias from the user config file."""
    aliases.check_alias_name(name)
    if name not in config.load().aliases:
        typer.echo(f"<{name}> is not set in the config file; nothing to do.")
        raise typer.Exit(0)
    path = config.save_file_values({}, remove=[f"aliases.{name}"])
    typer.echo(f"Removed <{name}> from {path}.")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(alias_app, name="alias")
