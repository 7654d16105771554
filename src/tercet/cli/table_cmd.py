"""``tercet ls`` and ``tercet table``: list projects and inspect table revisions."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from tercet import layout
from tercet.tables.table import Table, list_tables

table_app = typer.Typer(help="Inspect table revisions.", no_args_is_help=True)


def ls(
    project: str = typer.Argument(None, help="Project to list; all projects when omitted."),
    root: str = typer.Option(None, "--root", help="Project root URL (default: from config)."),
) -> None:
    """List projects, or the table revisions of one project."""
    console = Console()
    if project is None:
        projects = layout.list_projects(root)
        if not projects:
            console.print(f"No projects under {escape(layout.root_url(root))}.")
        for name in projects:
            console.print(escape(name))
        return
    out = RichTable(title=f"Tables in {escape(project)}")
    for col in ("dataset", "revision", "rows", "created", "parent", "message"):
        out.add_column(col)
    for t in sorted(list_tables(project, root), key=lambda t: (t.dataset, t.created)):
        parent = t.parent_url.rsplit("/", 1)[-1] if t.parent_url else ""
        cells = (t.dataset, t.name, str(t.num_rows), t.created.isoformat()[:19], parent, t.message)
        out.add_row(*map(escape, cells))
    console.print(out)


@table_app.command("show")
def show(url: str = typer.Argument(..., help="URL of a table revision.")) -> None:
    """Print a revision's schema, lineage and first rows."""
    t = Table.open(url)
    console = Console()
    shown = f"{t.display_name} ({t.name})" if t.display_name != t.table_name else t.name
    console.print(f"[bold]{escape(shown)}[/] ({t.num_rows} rows) at {escape(t.url)}")
    console.print(escape("lineage: " + " → ".join(r.name for r in t.lineage())))
    console.print(escape(f"latest: {t.latest().url}"))
    if t.derived_from is not None:
        rule = ", ".join(f"{k}={v}" for k, v in t.derived_from["rule"].items())
        console.print(escape(f"derived from: {t.derived_from['revision']} ({rule})"))
    for col in t.schema:
        # escape: rich would read "[label]" as a markup tag and print nothing.
        console.print(escape(f"  {col.name}: {col.type} [{col.role}]"), highlight=False)
        if col.value_map:
            values = ", ".join(f"{k}={v['name']}" for k, v in sorted(col.value_map.items()))
            console.print(escape(f"    values: {values}"), highlight=False, soft_wrap=True)
        # What else the schema says of the column: keypoint names and skeleton, the boxes a
        # list is aligned with, YOLO's task (format.md lists these fields).
        for key, value in sorted(col.extra.items()):
            console.print(escape(f"    {key}: {value}"), highlight=False, soft_wrap=True)
    console.print(t.to_arrow().slice(0, 10).to_pandas())


def register(app: typer.Typer) -> None:
    app.command("ls")(ls)
    app.add_typer(table_app, name="table")
