"""``tercet gc``: remove what killed writers left behind (hidden temp files, unfinished uploads)."""

from __future__ import annotations

import re

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from tercet import config, layout
from tercet.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*$")
DEFAULT_AGE = 86400
HELP = (
    "Remove temp files that killed writers left behind, and unfinished S3 uploads.\n\n"
    "A write goes to a hidden .tmp-* file (or an S3 multipart upload) and is published in one "
    "step; a writer killed in between leaves it behind. Listings skip these, so nothing reads "
    "them, but they take space.\n\n"
    "Never removed: anything younger than --older-than; a temp file whose writer is a process "
    "still running on this machine; any file that is not a Tercet temp file. Published objects "
    "are never touched. The Object Service runs the same sweep hourly (service.tmp_sweep_age)."
)


def parse_age(text: str) -> float:
    """Seconds in ``30m``, ``12h``, ``1d``, ``2w`` or plain seconds (``3600``)."""
    match = _AGE.match(text)
    if match is None:
        raise ConfigError(
            f"--older-than {text!r} is not an age: use a number with s, m, h, d or w (e.g. 12h)."
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def gc(
    root: str = typer.Argument(
        None,
        help="Project root URL (default: from config): a folder, "
        "s3://bucket/prefix or any fsspec URL.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
    older_than: str = typer.Option(
        None,
        "--older-than",
        help="Remove only leftovers at least this old: 30m, 12h, 1d (default: "
        "service.tmp_sweep_age, else 1d). Younger files may belong to a writer still at work.",
    ),
) -> None:
    """Remove temp files that killed writers left behind, and unfinished S3 uploads."""
    from tercet.storage.sweep import sweep

    cfg = config.load()
    age = parse_age(older_than) if older_than else float(cfg.service.tmp_sweep_age or DEFAULT_AGE)
    url = layout.root_url(root)
    report = sweep(url, age, dry_run=dry_run)
    console = Console(highlight=False, soft_wrap=True)
    if not report.found:
        console.print(f"No temp files left by writers under {url}.")
        return
    table = RichTable(title=f"Temp files under {escape(url)}")
    for col in ("file", "size", "age", "action"):
        table.add_column(col, justify="right" if col in ("size", "age") else "left")
    for f in report.found:
        style = "green" if f.action == "removed" else "yellow" if f.action == "would remove" else ""
        table.add_row(
            escape(f.url),
            f"{f.size:,}",
            _age(f.age),
            f"[{style}]{f.action}[/]" if style else f.action,
        )
    console.print(table)
    size = sum(f.size for f in report.removed)
    verb = "Would remove" if dry_run else "Removed"
    console.print(
        f"{verb} {len(report.removed)} (of {len(report.found)}) leftovers, {size:,} bytes; "
        f"kept {len(report.kept)} (younger than {_age(age)} or their writer is running)."
    )


def register(app: typer.Typer) -> None:
    app.command("gc", help=HELP)(gc)
