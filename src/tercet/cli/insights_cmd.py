"""``tercet insights``: what a run's insights found — label errors, duplicates, outliers, image
quality — as a table, or JSON; ``--compute`` scores the split first."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from tercet.insights.summary import Summary

HELP = (
    "Print the insights of a run's split: per issue type (likely label errors, exact and near "
    "duplicates, duplicates whose labels differ, outliers, blurry/dark/bright/low-information/"
    "odd-sized images) how many samples carry it and the worst example ids; then the classes, "
    "their balance and accuracy.\n\n"
    "Insights are computed by tercet.insights.compute(run), tercet.init(..., insights=True) at "
    "close, or --compute here. Open the run in the dashboard (tercet ui) to filter by "
    "is_label_issue and the other columns. See docs/insights.md."
)


def insights(
    run: str = typer.Argument(..., help="Run URL (its folder; aliases allowed)."),
    split: str = typer.Option("train", "--split", "-s", help="The split to report."),
    compute: bool = typer.Option(
        False, "--compute", help="Compute the insights first (every check that applies)."
    ),
    checks: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="With --compute: only these checks (label, duplicates, outliers, quality); "
            "repeat for several.",
        ),
    ] = None,
    epoch: int = typer.Option(None, "--epoch", help="With --compute: score as of this epoch."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    top: int = typer.Option(5, "--top", help="Example ids shown per issue type."),
) -> None:
    """Print what a run's insights found (label errors, duplicates, outliers, image quality)."""
    from tercet.insights import compute as compute_insights
    from tercet.insights import summary
    from tercet.runs.run import Run

    opened = Run.open(run)
    console = Console(highlight=False, soft_wrap=True)
    if compute:
        from rich.progress import Progress

        with Progress(transient=True, console=Console(stderr=True)) as bar:
            tasks: dict[str, object] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

            compute_insights(
                opened, split=split, epoch=epoch, checks=checks or None, progress=report
            )
    found = summary(opened, split)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    print_summary(console, found, top)


def print_summary(console: Console, found: Summary, top: int) -> None:
    title = (
        f"Insights of run {escape(found['run'])}, split {escape(found['split'])}: "
        f"{found['rows']:,} samples, epochs {_epochs(found['epochs'])}"
    )
    table = RichTable(title=title, title_justify="left")
    for col in ("issue", "count", "share", "filter", f"top {top} example ids"):
        table.add_column(col, justify="right" if col in ("count", "share") else "left")
    rows = max(found["rows"], 1)
    for issue in found["issues"]:
        table.add_row(
            escape(issue["description"]),
            f"{issue['count']:,}",
            f"{issue['count'] / rows:.1%}",
            escape(f"{issue['flag']} = true"),
            escape(", ".join(str(i) for i in issue["top"][:top])),
        )
    console.print(table)
    for check, reason in found["skipped"].items():
        console.print(f"[yellow]not run[/]: {escape(check)}: {escape(reason)}")
    if found["classes"]:
        classes = RichTable(title="Classes", title_justify="left")
        for col in ("label", "count", "share", "accuracy"):
            classes.add_column(col, justify="left" if col == "label" else "right")
        for c in found["classes"]:
            acc = "" if c["accuracy"] is None else f"{c['accuracy']:.1%}"
            classes.add_row(
                escape(c["name"]),
                f"{c['count']:,}",
                f"{c['share']:.1%}",
                f"[red]{acc} (low)[/]" if c["low_accuracy"] else acc,
            )
        console.print(classes)
        if found["imbalance"] is not None:
            console.print(f"class imbalance (largest / smallest): {found['imbalance']:.1f}")


def _epochs(epochs: list[int]) -> str:
    if not epochs:
        return "none"
    return str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"


def register(app: typer.Typer) -> None:
    app.command("insights", help=HELP)(insights)
