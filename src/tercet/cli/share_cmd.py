"""``tercet share export|import`` and ``tercet alias check``: runs and tables between machines."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table as RichTable

from tercet import share
from tercet.cli.config_cmd import alias_app
from tercet.errors import ShareError
from tercet.share.aliases_check import AskAlias
from tercet.share.manifest import AliasEntry

share_app = typer.Typer(
    help="Bundle runs and tables with everything they reference, and unpack bundles elsewhere.",
    no_args_is_help=True,
)


class _Bar:
    """A rich progress bar behind :class:`tercet.share.Progress`; silent when not on a terminal."""

    def __init__(self) -> None:
        console = Console(stderr=True)
        self._progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total or None)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()


def _pairs(values: list[str], option: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ShareError(f"{option} {item!r}: expected {what}.")
        out[key.strip()] = value.strip()
    return out


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


@share_app.command("export")
def export_cmd(
    targets: Annotated[list[str], typer.Argument(help="URLs of runs or table revisions.")],
    output: Annotated[str, typer.Option("-o", "--output", help="The bundle to write (.tercet).")],
    include_data: Annotated[
        bool,
        typer.Option("--include-data", help="Copy every referenced data file into the bundle."),
    ] = False,
    include_alias: Annotated[
        list[str] | None,
        typer.Option(
            "--include-alias",
            metavar="ALIAS",
            help="Copy only the data files under this alias (repeatable).",
        ),
    ] = None,
    relativize_under: Annotated[
        list[str] | None,
        typer.Option(
            "--relativize-under",
            metavar="DIR=ALIAS",
            help="Store absolute data paths under DIR as <ALIAS>/... (repeatable).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle.")] = False,
) -> None:
    """Write runs or tables, and everything they reference, into one bundle."""
    include: bool | list[str] = (
        True if include_data else [a.strip("<> ") for a in include_alias or []]
    )
    rules = _pairs(relativize_under or [], "--relativize-under", "DIR=ALIAS")
    with _Bar() as bar:
        manifest = share.export_bundle(
            targets,
            output,
            include_data=include,
            relativize_under=rules,
            overwrite=force,
            progress=bar,
        )
    console = Console()
    size = sum(f["size"] for f in manifest["files"])
    console.print(
        f"Wrote {output}: {len(manifest['objects'])} objects, {len(manifest['files'])} files, "
        f"{_size(size)}.",
        highlight=False,
        soft_wrap=True,
    )
    needed = {n: e for n, e in manifest["aliases"].items() if not e["included"]}
    if needed:
        table = RichTable(title="Aliases the data needs where the bundle is imported")
        for col in ("alias", "files", "value here"):
            table.add_column(col)
        for name, entry in needed.items():
            table.add_row(
                escape(f"<{name}>"), str(entry["files"]), escape(entry["value"] or "(not set)")
            )
        console.print(table)
    absolute = [a for a in manifest["absolute"] if not a["included"]]
    if absolute:
        count = sum(a["files"] for a in absolute)
        console.print(
            f"[yellow]warning:[/] {count} data file(s) are absolute paths that will not resolve on "
            f"another machine (e.g. {absolute[0]['example']}). Use --include-data, or "
            f"--relativize-under {absolute[0]['folder']}=ALIAS.",
            highlight=False,
            soft_wrap=True,
        )


def _interactive() -> bool:
    return sys.stdin.isatty()


def _asker(no_input: bool) -> AskAlias | None:
    if no_input or not _interactive():
        return None

    def ask(name: str, entry: AliasEntry) -> str | None:
        was = f" (it was {entry['value']} on the exporting machine)" if entry["value"] else ""
        value: str = typer.prompt(
            f"Where is the data under <{name}> on this machine{was}? Empty to stop",
            default="",
            show_default=False,
        )
        return value.strip() or None

    return ask


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop an import as Ctrl-C does: it removes what it wrote, then exits.

    By default they end the process on the spot; the import would survive that too (no object
    is visible before its files, and a re-run completes it), but would leave files behind.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@share_app.command("import")
def import_cmd(
    bundle: Annotated[str, typer.Argument(help="The bundle to import (.tercet).")],
    project: Annotated[
        str | None,
        typer.Option("--project", help="Import into this project (NEW, or OLD=NEW for several)."),
    ] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option(
            "--alias", metavar="NAME=VALUE", help="Where aliased data lives here (repeatable)."
        ),
    ] = None,
    rename: Annotated[
        bool,
        typer.Option("--rename", help="Import objects that clash with others under new names."),
    ] = False,
    save_aliases: Annotated[
        bool,
        typer.Option("--save-aliases", help="Save alias values given or asked for in your config."),
    ] = False,
    absolutize: Annotated[
        bool, typer.Option("--absolutize", help="Store aliased data URLs as plain paths or URLs.")
    ] = False,
    verify_aliases: Annotated[
        bool,
        typer.Option(
            "--verify-aliases/--no-verify-aliases",
            help="Check that alias values exist and hold the bundle's data.",
        ),
    ] = True,
    root: Annotated[
        str | None, typer.Option("--root", help="Project root URL (default: from config).")
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Never ask; fail on missing aliases.")
    ] = False,
    with_aliases: Annotated[
        bool,
        typer.Option(
            "--with-aliases", help="Also import the projects' aliases.yaml the bundle carries."
        ),
    ] = False,
) -> None:
    """Verify a bundle and unpack it into the project root, all or nothing."""
    given = _pairs(alias or [], "--alias", "NAME=VALUE")
    with _stop_signals_interrupt(), _Bar() as bar:
        result = share.import_bundle(
            bundle,
            root=root,
            project=project,
            aliases=given,
            rename=rename,
            save_aliases=save_aliases,
            absolutize=absolutize,
            verify_aliases=verify_aliases,
            with_aliases=with_aliases,
            ask=_asker(no_input),
            progress=bar,
        )
    console = Console()
    table = RichTable(title=f"Imported into {result.root} ({result.files_written} files written)")
    for col in ("kind", "url", "status"):
        table.add_column(col)
    for obj in result.objects:
        renamed = f", renamed from {obj['renamed_from']}" if obj["renamed_from"] else ""
        status = obj["status"] + renamed
        table.add_row(obj["kind"], escape(obj["url"]), escape(status))
    console.print(table)
    for name, (value, source) in sorted(result.aliases.items()):
        console.print(escape(f"<{name}> = {value}  ({source})"), highlight=False, soft_wrap=True)
        if source in ("--alias", "asked") and name not in result.saved_aliases:
            console.print(
                f"  not saved: run `tercet alias set {name} {value}` (or import with "
                "--save-aliases) so the data opens later.",
                highlight=False,
                soft_wrap=True,
            )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def alias_check(
    targets: Annotated[
        list[str], typer.Argument(help="URLs of runs, table revisions or bundles (.tercet).")
    ],
) -> None:
    """List the aliases an object and everything it references need, and which are set here."""
    statuses = share.check_aliases(targets)
    console = Console()
    if not statuses:
        console.print("No aliases needed: every URL is relative or absolute.")
        return
    table = RichTable()
    for col in ("alias", "status", "value here", "source", "used by", "detail"):
        table.add_column(col)
    colors = {"ok": "green", "missing": "red", "unreachable": "yellow"}
    for s in statuses:
        used = ", ".join(
            part
            for part in (
                f"{s['files']} files" if s["files"] else "",
                f"{s['references']} references" if s["references"] else "",
            )
            if part
        )
        table.add_row(
            escape(f"<{s['name']}>"),
            f"[{colors[s['status']]}]{s['status']}[/]",
            escape(s["value"] or ""),
            escape(s["source"] or ""),
            used,
            escape(s["detail"] or ""),
        )
    console.print(table)
    if any(s["status"] != "ok" for s in statuses):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``share export|import`` to ``app`` and ``check`` to ``tercet alias``."""
    app.add_typer(share_app, name="share")
    alias_app.command("check")(alias_check)
