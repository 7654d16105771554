"""``tercet config`` and ``tercet alias``: inspect configuration and manage URL aliases."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from tercet import aliases, config, format

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


_PROJECT = typer.Option(
    None, "--project", "-p",
    help="A project: work on its aliases.yaml, which travels with the project, instead of your "
    "config file.",
)  # fmt: skip
_ROOT = typer.Option(None, "--root", help="Project root URL (default: from config).")
_COLUMNS = typer.Option(
    None, "--column", "-c", help="A column to rewrite (repeatable; default: image columns)."
)


def _project_url(project: str | None, root: str | None) -> str | None:
    from tercet import layout

    return layout.project_url(project, root) if project else None


@alias_app.command("list")
def alias_list(project: str | None = _PROJECT, root: str | None = _ROOT) -> None:
    """List aliases with their values and where each is set (with --project: its aliases too)."""
    entries = aliases.list(_project_url(project, root))
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
    project: str | None = _PROJECT,
    root: str | None = _ROOT,
) -> None:
    """Save an alias in the user config file, or with --project in the project's aliases.yaml."""
    aliases.check_alias_name(name)
    clean = aliases.clean_value(value)
    project_url = _project_url(project, root)
    if project_url is not None:
        aliases.set_project_alias(project_url, name, clean)
        where = f"{project_url}/{format.PROJECT_ALIASES}"
    else:
        where = str(config.save_file_values({f"aliases.{name}": clean}))
    Console().print(escape(f"<{name}> = {clean}  (saved in {where})"), highlight=False)


@alias_app.command("unset")
def alias_unset(
    name: str = typer.Argument(..., help="Alias name."),
    project: str | None = _PROJECT,
    root: str | None = _ROOT,
) -> None:
    """Remove an alias from the user config file, or with --project from the project's
    aliases.yaml."""
    aliases.check_alias_name(name)
    project_url = _project_url(project, root)
    console = Console()
    if project_url is not None:
        if not aliases.unset_project_alias(project_url, name):
            console.print(escape(f"<{name}> is not set in project {project}; nothing to do."))
            return
        console.print(escape(f"Removed <{name}> from {project_url}/{format.PROJECT_ALIASES}."))
        return
    if name not in config.load().aliases:
        typer.echo(f"<{name}> is not set in the config file; nothing to do.")
        raise typer.Exit(0)
    path = config.save_file_values({}, remove=[f"aliases.{name}"])
    typer.echo(f"Removed <{name}> from {path}.")


@alias_app.command("rewrite")
def alias_rewrite(
    table_url: str = typer.Argument(..., help="URL of a table revision (its latest is rewritten)."),
    old: str = typer.Option(..., "--from", help="The prefix stored now, e.g. /old/data."),
    new: str = typer.Option(..., "--to", help="What replaces it: a path, URL or '<ALIAS>'."),
    column: list[str] | None = _COLUMNS,
    exact: bool = typer.Option(
        False, "--exact", help="Rewrite the revision TABLE_URL names, not its latest."
    ),
    message: str = typer.Option("", "--message", "-m", help="The new revision's message."),
) -> None:
    """Rewrite the URLs a table stores (data moved, or put behind an alias) as a new sparse
    revision holding only the changed URL cells; prints how many values changed per column.

    Example: tercet alias rewrite ROOT/p/datasets/d/tables/train --from /old/data --to '<DATA>'
    """
    from tercet.tables.table import Table

    table = Table.open(table_url)
    if not exact:
        table = table.latest()
    result = table.rewrite_urls(old, new, columns=column or None, message=message)
    console = Console()
    out = RichTable(title=escape(f"{table.name}: {old} → {new}"))
    out.add_column("column")
    out.add_column("changed", justify="right")
    for name, count in result.changed.items():
        out.add_row(escape(name), str(count))
    console.print(out)
    if result.table is None:
        console.print(escape(f"No value starts with {old}; nothing written."), highlight=False)
    else:
        console.print(escape(f"New revision: {result.table.url}"), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(alias_app, name="alias")
