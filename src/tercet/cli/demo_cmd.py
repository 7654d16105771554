"""``tercet demo`` (train the digits demo, then serve it) and ``tercet run`` (inspect runs)."""

from __future__ import annotations

import inspect
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from tercet import layout
from tercet.dependencies import install_hint

run_app = typer.Typer(help="Inspect runs: status, inputs, metrics.", no_args_is_help=True)


def demo(
    root: str = typer.Option(None, "--root", help="Project root URL (default: from config)."),
    project: str = typer.Option("digits-demo", "--project", help="Project name."),
    epochs: int = typer.Option(5, "--epochs", min=1, help="Training epochs."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the services afterwards."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
    reduce: str = typer.Option("pca", "--reduce", help="pca, umap or pacmap (needs tercet[umap])."),
    max_batches: int = typer.Option(None, "--max-batches", hidden=True),
) -> None:
    """Train a small CNN on scikit-learn's digits with 3% of labels flipped, collecting per-sample
    metrics and embeddings every epoch, then start the dashboard to find the flipped labels."""
    console = Console()
    try:
        from tercet import demo as demo_mod  # imports torch: only when the command runs
    except ImportError as exc:
        console.print(
            "[bold red]error:[/] "
            + escape(
                f"the demo trains with PyTorch, which is not installed ({exc}). "
                f"Install it with {install_hint('torch')}."
            )
        )
        raise typer.Exit(1) from exc
    result = demo_mod.build(
        root=root, project=project, epochs=epochs, max_batches=max_batches, reduce=reduce,
        report=lambda line: console.print(line, highlight=False), progress=True,
    )  # fmt: skip
    console.print(f"[bold]project[/] {escape(result.project_url)}")
    console.print(f"[bold]run[/]     {escape(result.run_url)}")
    console.print(
        "The dashboard opens the run's training split as a gallery, highest loss first: the "
        "flipped labels (injected_noise) are among the first tiles."
    )
    if not serve:
        console.print(f"Serve it later with `tercet ui --root {result.root}`.")
        return
    if not _start_services(result.root, open_browser=not no_browser, view=result.dashboard_view()):
        console.print(f"The services are not installed here; the project is at {result.root}.")


def _start_services(root: str, open_browser: bool, view: str = "") -> bool:
    """Run ``tercet ui`` (both services, the dashboard URL printed) on ``root`` until Ctrl-C,
    opening ``view`` (a dashboard fragment)."""
    try:
        from tercet.cli import service_cmd
    except ImportError:
        return False
    ui = getattr(service_cmd, "ui", None)
    if not callable(ui):
        return False
    wanted: dict[str, Any] = {"root": root, "no_browser": not open_browser, "open_view": view}
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(ui).parameters.items():
        default = parameter.default
        # A typer command called as a function: its defaults are OptionInfo objects.
        kwargs[name] = wanted.get(name, getattr(default, "default", default))
    ui(**kwargs)
    return True


@run_app.command("ls")
def run_ls(
    project: str = typer.Argument(..., help="Project whose runs to list."),
    root: str = typer.Option(None, "--root", help="Project root URL (default: from config)."),
) -> None:
    """List the runs of a project with their status."""
    from tercet.runs import list_runs

    runs = list_runs(project, root)
    if not runs:
        Console().print(f"No runs in {escape(layout.project_url(project, root))}.")
        return
    out = RichTable(title=f"Runs in {escape(project)}")
    for col in ("run", "status", "created", "splits", "parameters"):
        out.add_column(col)
    for run in runs:
        state = run.state()
        params = ", ".join(f"{k}={v}" for k, v in list(state["parameters"].items())[:6])
        shown = run.display_name
        cells = (
            shown if shown == run.name else f"{shown} ({run.name})",
            state["status"],
            run.created.isoformat()[:19],
            ", ".join(run.splits),
            params,
        )
        out.add_row(*map(escape, cells))
    Console().print(out)


@run_app.command("show")
def run_show(url: str = typer.Argument(..., help="URL of a run folder.")) -> None:
    """Print a run's status, parameters, inputs, metrics files and last logged values."""
    from tercet.runs import Run

    run = Run.open(url)
    state = run.state()
    console = Console()
    console.print(f"[bold]{escape(run.name)}[/] ({state['status']}) at {escape(run.url)}")
    if state["error"]:
        console.print(f"error: {escape(str(state['error']))}")
    for key, value in state["parameters"].items():
        console.print(escape(f"  {key} = {value}"))
    for item in state["inputs"]:
        console.print(escape(f"input {item['split'] or '-'}: {item['table']}"))
    files = RichTable(title="metrics files")
    for col in ("split", "epoch", "file"):
        files.add_column(col)
    for f in run.metric_files():
        files.add_row(escape(f["split"]), str(f["epoch"]), escape(f["name"]))
    console.print(files)
    scalars = run.aggregates()
    if scalars.num_rows:
        last: dict[str, float] = {}
        for name, value in zip(
            scalars.column("name").to_pylist(), scalars.column("value").to_pylist(), strict=True
        ):
            last[name] = value
        console.print("last values: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))


@run_app.command("reduce")
def run_reduce(
    url: str = typer.Argument(..., help="URL of a run folder."),
    method: str = typer.Option("pca", "--method", help="pca, umap or pacmap."),
    dims: int = typer.Option(3, "--dims", help="2 or 3."),
) -> None:
    """Project a run's embeddings (one fit for every epoch) for the dashboard's scatter plots."""
    from tercet.runs import Run

    job = Run.open(url).reduce_embeddings(method=method, dims=dims)
    Console().print(f"{len(job.files)} projection files written.")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.add_typer(run_app, name="run")
