"""What every exporter shares: which rows leave (the weight rule), where their images go, the
URL an exported file names each image by, and progress for long work."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from tercet import storage
from tercet.errors import ExportError
from tercet.schema import WEIGHT_COLUMN, Schema

IMAGE_MODES = ("reference", "copy", "relative")


class Exportable(Protocol):
    """What an exporter reads of a table revision (:class:`tercet.Table` is one)."""

    schema: Schema

    @property
    def name(self) -> str: ...

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table: ...

    def resolve_url(self, url: str) -> str: ...


T = TypeVar("T")


def select_rows(table: Exportable, weight_threshold: float | None) -> pa.Table:
    """The rows that leave: those with ``weight > weight_threshold`` (all when None)."""
    rows = table.to_arrow()
    if weight_threshold is None or WEIGHT_COLUMN not in rows.column_names:
        return rows
    return rows.filter(pc.greater(rows.column(WEIGHT_COLUMN), float(weight_threshold)))


def check_images_mode(images: str) -> None:
    if images not in IMAGE_MODES:
        raise ExportError(f"images must be one of {', '.join(IMAGE_MODES)}; got {images!r}.")


@dataclass
class ImagePlan:
    """For each row: the absolute source URL, the name the export uses, and where a copy goes."""

    sources: list[str | None]
    names: list[str | None]
    copies: list[tuple[str, str]]


def plan_images(
    table: Exportable,
    urls: Sequence[str | None],
    ids: Sequence[int],
    mode: str,
    folder: str,
    copy_dir: str,
) -> ImagePlan:
    """Where each image goes: ``reference`` names it by its absolute URL (aliases expanded);
    ``relative`` by its path relative to ``folder`` (where the exported file lives); ``copy``
    copies it into ``copy_dir`` under its own name (the ``example_id`` first when two share one)
    and names it relative to ``folder``."""
    folders: dict[str, str] = {}

    def resolve(url: str) -> str:
        # Resolved per folder, not per file: alias expansion costs ~10 µs, on 100k+ images.
        head, sep, name = url.rpartition("/")
        if not sep or not head or not name:
            return table.resolve_url(url)
        if head not in folders:
            folders[head] = table.resolve_url(head)
        return storage.join(folders[head], name)

    sources = [resolve(u) if u else None for u in urls]
    names: list[str | None] = []
    copies: list[tuple[str, str]] = []
    taken: set[str] = set()
    for src, eid in zip(sources, ids, strict=True):
        if src is None:
            names.append(None)
        elif mode == "reference":
            names.append(src)
        elif mode == "relative":
            names.append(storage.relative_to(src, folder))
        else:
            base = storage.basename(src)
            if base in taken:
                base = f"{eid}_{base}"
            taken.add(base)
            dest = storage.join(copy_dir, base)
            copies.append((src, dest))
            names.append(storage.relative_to(dest, folder))
    return ImagePlan(sources, names, copies)


def copy_files(copies: Sequence[tuple[str, str]], overwrite: bool, progress: bool) -> None:
    """Copy ``(source, destination)`` pairs, concurrently."""

    def one(pair: tuple[str, str]) -> None:
        storage.write_bytes(pair[1], storage.read_bytes(pair[0]), overwrite=overwrite)

    write_all([(one, p) for p in copies], progress, "copying images")


def write_all(tasks: Sequence[tuple[Any, Any]], progress: bool, what: str) -> None:
    """Run ``fn(arg)`` for each task on a few threads, with a progress bar when asked."""
    if not tasks:
        return
    with storage.FencedExecutor(8) as pool:
        futures = [pool.submit(fn, arg) for fn, arg in tasks]
        for f in track(futures, len(futures), what, progress):
            f.result()


def track(items: Iterable[T], total: int, what: str, enabled: bool) -> Iterator[T]:
    """``items``, with a rich progress bar on stderr when ``enabled``."""
    if not enabled:
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        for item in items:
            yield item
            bar.advance(task)


def label_names(table: Exportable, column: str) -> dict[int, str]:
    """The value map of ``column`` as ``{value: name}`` (empty when it has none)."""
    vm = table.schema[column].value_map or {}
    return {int(k): str(v["name"]) for k, v in vm.items()}


def first_column(table: Exportable, role: str) -> str | None:
    """The first column with ``role``."""
    return next((c.name for c in table.schema if c.role == role), None)
