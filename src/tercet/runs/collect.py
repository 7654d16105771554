"""One inference pass over a table, written as one immutable metrics file into a run.

The public entry point is :func:`tercet.collect_metrics` (:mod:`tercet.runs.lifecycle`), which
defaults the run to the active one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pyarrow as pa

from tercet.errors import RunError, UnknownExampleError
from tercet.runs import distributed, folder
from tercet.runs import metrics as metrics_mod
from tercet.runs.collectors import (
    Batch,
    CollectContext,
    Collector,
    RunTarget,
    TableColumns,
    as_collectors,
)
from tercet.runs.held import HeldRows, add_columns
from tercet.schema import ID_COLUMN
from tercet.storage import FencedExecutor
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
    data: Table | TableDataset[Any] | Any,
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
    table: Table | None = None,
    forward: Callable[[Any, Any], Any] | None = None,
    constants: Mapping[str, Any] | None = None,
    shard: bool | None = None,
) -> CollectResult:
    """One collection pass into ``run``: see :func:`tercet.collect_metrics`, whose parameters
    these are (``run`` given, not defaulted to the active run)."""
    import torch
    from torch.utils.data import DataLoader, Subset
    from torch.utils.data.dataloader import default_collate

    dataset, table, ids, positions = _samples(data, table)
    split = folder.check_split(split or table.table_name)
    at = distributed.world()
    sharded = at.group and at.distributed if shard is None else bool(shard) and at.distributed
    # The previous file of this split is on disk before a new pass starts: a crash in this pass
    # leaves every earlier epoch readable.
    run.wait(split)
    epoch = run.next_epoch(split) if epoch is None else int(epoch)
    if sharded and at.group:
        epoch = int(distributed.broadcast(epoch))  # one epoch number for every rank's part
    fixed = plain_constants(constants)
    active = as_collectors(collectors)
    if len(ids) == 0:
        raise RunError(f"{table.name} has no rows to collect metrics for.")
    lo, hi = distributed.shard(len(ids), at) if sharded else (0, len(ids))
    if sharded:
        dataset = Subset(dataset, range(lo, hi))
        ids = ids[lo:hi]
        positions = positions[lo:hi] if positions is not None else None
    context = CollectContext(table, split, epoch, model, run)
    columns = TableColumns(table)
    pick = inputs or default_inputs
    call = forward or _call
    device = device if device is not None else model_device(model)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_fn or default_collate,
    )  # fmt: skip
    was_training = getattr(model, "training", None)
    started: list[Collector] = []
    writer: metrics_mod.MetricsWriter | None = None
    encoder: Encoder | None = None
    url = ""
    bar = _progress(progress, f"{split} epoch {epoch}", len(loader))
    try:
        for collector in active:
            collector.start(context)
            started.append(collector)
        specs: dict[str, metrics_mod.MetricSpec] = {}
        for collector in active:
            specs.update(collector.specs())
        header = run.metrics_header(table, split, epoch)
        if fixed:
            header["constants"] = fixed
        if hi > lo:  # a rank whose share is empty (fewer rows than ranks) writes no file
            url = run.metrics_url(split, epoch)
            writer = metrics_mod.MetricsWriter(url, header, specs)
            encoder = Encoder(writer)
        if was_training is not None:
            model.eval()
        start = lo
        pending = HeldRows(active)
        with torch.no_grad():
            for raw in loader if writer is not None else ():
                n = min(batch_size, hi - start)
                x = to_device(pick(raw), device)
                outputs = call(model, x)
                at_rows = positions[start - lo : start - lo + n] if positions is not None else None
                pending.add(Batch(raw, x, ids[start - lo : start - lo + n], start, columns,
                                  at_rows), outputs)  # fmt: skip
                start += n
                if pending.full or pending.count >= metrics_mod.ROW_GROUP:
                    assert encoder is not None
                    encoder.write_rows(pending.release(), fixed)
                if bar is not None:
                    bar[0].advance(bar[1])
        if encoder is not None:
            encoder.write_rows(pending.release(), fixed)
            encoder.finish()
    except BaseException:
        if encoder is not None:
            encoder.stop()
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
    rows = writer.rows if writer is not None else 0
    # Recorded before the file appears: a reader woken by the file finds the run's input with it.
    run.add_input(table, split)
    if writer is not None:
        publish = publisher(writer)
        if wait:
            publish()
        else:
            run.write_in_background(split, publish)
    aggregates: dict[str, float] = {}
    for collector in active:
        aggregates.update(collector.aggregates())
    if sharded and at.group:
        # Means over the whole table: each rank's means weighted by the rows it collected.
        aggregates = distributed.combine_aggregates(distributed.gather((rows, aggregates)))
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


class Encoder:
    """Converts a pass's batches to Arrow and writes them on one thread of their own, so the
    encoding and compression overlap the next batches' forward passes. At most ``depth``
    batches wait (memory stays bounded); the first error is raised in the loop."""

    def __init__(self, writer: metrics_mod.MetricsWriter, depth: int = 4) -> None:
        self.writer, self.depth = writer, depth
        self._pool = FencedExecutor(1, thread_name_prefix="tercet-encode")
        self._pending: deque[Future[None]] = deque()

    def write(self, row: dict[str, Any]) -> None:
        self._pending.append(self._pool.submit(self.writer.write, row))
        while len(self._pending) > self.depth or (self._pending and self._pending[0].done()):
            self._pending.popleft().result()  # re-raises the writer's error here

    def write_rows(self, rows: list[dict[str, Any]], constants: Mapping[str, Any]) -> None:
        """Rows released by :class:`~tercet.runs.held.HeldRows`, each with the pass's
        ``constants`` as columns."""
        for row in rows:
            n = len(row[ID_COLUMN])
            add_columns(row, {k: np.full(n, v) for k, v in constants.items()})
            self.write(row)

    def finish(self) -> None:
        """Every batch written (raising the first error)."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)

    def stop(self) -> None:
        """Drop the batches not yet written and end the thread (the pass failed)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


def _samples(data: Any, table: Table | None) -> tuple[Any, Table, np.ndarray, np.ndarray | None]:
    """The dataset to feed, its table, the ``example_id`` of each sample, and (for a dataset
    made outside Tercet) each sample's row number in the table."""
    from tercet.torch import TableDataset, as_dataset

    if isinstance(data, Table):
        return as_dataset(data), data, table_example_ids(data), None
    if isinstance(data, TableDataset):
        if not isinstance(data.table, Table):
            raise RunError(
                f"collect_metrics reads a tercet Table; the dataset holds {type(data.table)}."
            )
        return data, data.table, table_example_ids(data.table), None
    if table is None:
        raise RunError(
            "collect_metrics reads a tercet Table, table.map(...), or another dataset with "
            f"table=<the Table its samples come from>; received {type(data).__name__}."
        )
    ids = dataset_example_ids(data)
    return data, table, ids, table_positions(table, ids)


def table_example_ids(table: Table) -> np.ndarray:
    """``example_id`` of every row, read once per table revision (not once per epoch)."""
    return np.asarray(TableColumns(table).get(ID_COLUMN), dtype=np.int64)


def dataset_example_ids(data: Any) -> np.ndarray:
    """The ``example_id`` of every sample of a dataset made outside Tercet: its
    ``example_ids()``, or its ``example_id`` column (a Hugging Face ``datasets.Dataset`` keeps
    it through ``.map``)."""
    method = getattr(data, "example_ids", None)
    if callable(method):
        return np.asarray(method(), dtype=np.int64)
    names = getattr(data, "column_names", None)
    if isinstance(names, list | tuple):
        if ID_COLUMN not in names:
            raise RunError(
                f"The dataset has no {ID_COLUMN!r} column (columns: {', '.join(map(str, names))})"
                f": keep it through .map(...) (do not list it in remove_columns)."
            )
        return np.asarray(_arrow_column(data, ID_COLUMN), dtype=np.int64)
    raise RunError(
        f"Cannot tell the {ID_COLUMN} of the samples of a {type(data).__name__}: give it an "
        f"{ID_COLUMN!r} column or an example_ids() method."
    )


def _arrow_column(data: Any, name: str) -> Any:
    """Column ``name`` of a Hugging Face dataset, in the dataset's order, read as one Arrow
    column (``data[name]`` formats it row by row: 25× slower on 1,000 rows); other datasets'
    ``data[name]``."""
    with_format = getattr(data, "with_format", None)
    if callable(with_format):
        try:
            column = with_format("arrow")[name]
        except (TypeError, ValueError, KeyError):
            column = None
        if isinstance(column, pa.ChunkedArray | pa.Array):
            return column.to_numpy()
    return data[name]


def table_positions(table: Table, ids: np.ndarray) -> np.ndarray:
    """Row numbers in ``table`` of ``ids``; an id the table does not hold is an error."""
    table_ids = table_example_ids(table)
    order = np.argsort(table_ids, kind="stable")
    found = np.searchsorted(table_ids, ids, sorter=order)
    found = np.minimum(found, len(table_ids) - 1) if len(table_ids) else found
    positions = order[found] if len(table_ids) else np.zeros(0, dtype=np.int64)
    missing = ids[table_ids[positions] != ids] if len(table_ids) else ids
    if len(missing):
        raise UnknownExampleError(
            f"{len(missing)} sample(s) of the dataset are not rows of {table.name} (example_id "
            f"{', '.join(map(str, missing[:5]))}{' …' if len(missing) > 5 else ''}): pass the "
            "table the dataset was made from."
        )
    return np.asarray(positions, dtype=np.int64)


def plain_constants(constants: Mapping[str, Any] | None) -> dict[str, Any]:
    """``constants`` as plain numbers, strings or booleans; anything else is an error."""
    out: dict[str, Any] = {}
    for name, value in (constants or {}).items():
        plain = value.item() if callable(getattr(value, "item", None)) else value
        if not isinstance(plain, int | float | str | bool):
            raise RunError(
                f"Constant {name!r} is a {type(value).__name__}; constants are numbers, strings "
                "or booleans (one value for every sample of the pass)."
            )
        if name == ID_COLUMN:
            raise RunError(f"{ID_COLUMN!r} cannot be a constant.")
        out[str(name)] = plain
    return out


def _call(model: Any, inputs: Any) -> Any:
    return model(inputs)


def publisher(writer: metrics_mod.MetricsWriter) -> Callable[[], None]:
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
