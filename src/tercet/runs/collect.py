"""One inference pass over a table, written as one immutable metrics file into a run.

The public entry point is :func:`tercet.collect_metrics` (:mod:`tercet.runs.lifecycle`), which
defaults the run to the active one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from tercet.errors import RunError
from tercet.runs import folder
from tercet.runs import metrics as metrics_mod
from tercet.runs.collectors import (
    Batch,
    CollectContext,
    Collector,
    RunTarget,
    TableColumns,
    as_collectors,
)
from tercet.schema import ID_COLUMN
from tercet.tables.table import Table

if TYPE_CHECKING:
    from tercet.torch import TableDataset


class CollectResult(TypedDict):
    """What one :func:`collect_metrics` call wrote."""

    url: str
    split: str
    epoch: int
    rows: int
    table: str
    aggregates: dict[str, float]


def collect_metrics(
    data: Table | TableDataset[Any],
    collectors: Collector | Callable[..., Any] | Sequence[Collector | Callable[..., Any]],
    model: Any,
    *,
    epoch: int | None = None,
    split: str | None = None,
    run: RunTarget,
    batch_size: int = 256,
    num_workers: int = 0,
    inputs: Callable[[Any], Any] | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    device: Any = None,
    progress: bool = False,
    log_aggregates: bool = True,
    wait: bool = False,
) -> CollectResult:
    """One collection pass into ``run``: see :func:`tercet.collect_metrics`, whose parameters
    these are (``run`` given, not defaulted to the active run)."""
    import torch
    from torch.utils.data import DataLoader
    from torch.utils.data.dataloader import default_collate

    from tercet.torch import TableDataset, as_dataset

    if isinstance(data, TableDataset):
        dataset: TableDataset[Any] = data
    elif isinstance(data, Table):
        dataset = as_dataset(data)
    else:
        raise RunError(
            "collect_metrics reads a tercet Table or table.map(...); received "
            f"{type(data).__name__}."
        )
    if not isinstance(dataset.table, Table):
        raise RunError(
            f"collect_metrics reads a tercet Table; the dataset holds {type(dataset.table)}."
        )
    table = dataset.table
    split = folder.check_split(split or table.table_name)
    # The previous file of this split is on disk before a new pass starts: a crash in this pass
    # leaves every earlier epoch readable.
    run.wait(split)
    epoch = run.next_epoch(split) if epoch is None else int(epoch)
    active = as_collectors(collectors)
    ids = dataset.example_ids()
    if len(ids) == 0:
        raise RunError(f"{table.name} has no rows to collect metrics for.")
    context = CollectContext(table, split, epoch, model, run)
    columns = TableColumns(table)
    pick = inputs or default_inputs
    device = device if device is not None else model_device(model)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_fn or default_collate,
    )  # fmt: skip
    was_training = getattr(model, "training", None)
    started: list[Collector] = []
    writer: metrics_mod.MetricsWriter | None = None
    bar = _progress(progress, f"{split} epoch {epoch}", len(loader))
    try:
        for collector in active:
            collector.start(context)
            started.append(collector)
        specs: dict[str, metrics_mod.MetricSpec] = {}
        for collector in active:
            specs.update(collector.specs())
        url = run.metrics_url(split, epoch)
        writer = metrics_mod.MetricsWriter(url, run.metrics_header(table, split, epoch), specs)
        if was_training is not None:
            model.eval()
        start = 0
        with torch.no_grad():
            for raw in loader:
                n = min(batch_size, len(ids) - start)
                x = to_device(pick(raw), device)
                outputs = model(x)
                batch = Batch(raw, x, ids[start : start + n], start, columns)
                row: dict[str, Any] = {ID_COLUMN: batch.example_ids}
                for collector in active:
                    produced = collector.collect(batch, outputs)
                    clash = set(produced) & set(row)
                    if clash:
                        raise RunError(
                            f"Two collectors write the column(s) {sorted(clash)}; give one a "
                            "different name or prefix."
                        )
                    row.update(produced)
                writer.write(row)
                start += n
                if bar is not None:
                    bar[0].advance(bar[1])
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        for collector in started:
            collector.finish()
        if was_training is not None:
            model.train(was_training)
        if bar is not None:
            bar[0].stop()
    rows = writer.rows
    publish = _publisher(writer)
    if wait:
        publish()
    else:
        run.write_in_background(split, publish)
    aggregates: dict[str, float] = {}
    for collector in active:
        aggregates.update(collector.aggregates())
    run.add_input(table, split)
    if log_aggregates and aggregates:
        # Buffered like any logged scalar (written within seconds): one fsync less per pass.
        run.log_summary({f"{split}/{k}": v for k, v in aggregates.items()}, epoch)
    return {
        "url": url,
        "split": split,
        "epoch": epoch,
        "rows": rows,
        "table": table.url,
        "aggregates": aggregates,
    }


def _publisher(writer: metrics_mod.MetricsWriter) -> Callable[[], None]:
    def publish() -> None:
        try:
            writer.close()
        except BaseException:
            writer.abort()
            raise

    return publish


def default_inputs(batch: Any) -> Any:
    """The model input of a collated batch: ``batch[0]``, ``batch["input"]``/``["image"]``, or
    the batch itself."""
    if isinstance(batch, tuple | list):
        return batch[0]
    if isinstance(batch, Mapping):
        for key in ("input", "inputs", "image", "x"):
            if key in batch:
                return batch[key]
        raise RunError(
            f"Cannot tell which entry of the batch ({', '.join(map(str, batch))}) is the model "
            "input: pass inputs=lambda batch: batch['<key>'] to collect_metrics."
        )
    return batch


def model_device(model: Any) -> Any:
    import torch

    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for p in parameters():
            return p.device
    return torch.device("cpu")


def to_device(value: Any, device: Any) -> Any:
    """Move every tensor in a (nested) batch to ``device``."""
    move = getattr(value, "to", None)
    if callable(move) and hasattr(value, "device"):
        return value if value.device == device else move(device)
    if isinstance(value, tuple | list):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        import torch

        return torch.as_tensor(value, device=device)
    return value


def _progress(enabled: bool, label: str, total: int) -> tuple[Any, Any] | None:
    if not enabled:
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(f"metrics: {label}", total=total)
    bar.start()
    return bar, task
