"""Per-sample metrics from the outputs a framework computes anyway, instead of a second pass.

A framework's validation loop already runs the model over the split. When each batch tells its
samples apart (an ``example_id`` entry) and the step returns the model's scores, the collectors
can read them there: :class:`Harvest` takes each batch's outputs as it goes by and, at the end of
the loop, writes the pass as :func:`tercet.runs.collect.collect_metrics` would have, each
``example_id`` once (the repeats a ``DistributedSampler`` pads the last shares with are dropped,
on whichever rank they came second).

When it cannot — a batch without ids, outputs without scores, a loop that skipped rows — it says
why (:attr:`Harvest.reason`) and :meth:`Harvest.finish` returns None: the caller runs its own
pass. Under a process group every rank takes the same decision.

Aggregates (``val/loss`` …) are the collectors' running means over every sample the loop saw,
padded repeats included (at most one per rank after the first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tercet.runs import distributed, folder
from tercet.runs import metrics as metrics_mod
from tercet.runs.collect import CollectResult, plain_constants, publisher
from tercet.runs.collectors import (
    Batch,
    CollectContext,
    Collector,
    RunTarget,
    TableColumns,
    as_collectors,
)
from tercet.runs.collectors.classification import Held
from tercet.runs.held import add_columns, holds, joined_rows, release
from tercet.schema import ID_COLUMN
from tercet.tables.table import Table


class Harvest:
    """One pass of ``collectors`` fed by a framework's own batches and outputs.

    Parameters
    ----------
    run, table, split
        Where the pass is written, the table its samples come from, and the split's name.
    collectors
        As for :func:`tercet.collect_metrics`; started now (an :class:`EmbeddingCollector`
        hooks its layer, so the framework's forward passes feed it).
    model
        The model the framework runs.
    """

    def __init__(
        self,
        run: RunTarget,
        table: Table,
        split: str,
        collectors: Collector | Callable[..., Any] | Sequence[Collector | Callable[..., Any]],
        model: Any,
    ) -> None:
        self.run, self.table = run, table
        self.split = folder.check_split(split)
        run.wait(self.split)
        epoch = run.next_epoch(self.split)
        at = distributed.world()
        if at.group and at.distributed:
            epoch = int(distributed.broadcast(epoch))  # one epoch number for every rank's part
        self.epoch = epoch
        self.active = as_collectors(collectors)
        self.reason: str | None = None
        """Why this pass cannot be used (None while it can)."""
        self._columns = TableColumns(table)
        table_ids = np.asarray(self._columns.get(ID_COLUMN), dtype=np.int64)
        self._order = np.argsort(table_ids, kind="stable")
        self._sorted_ids = table_ids[self._order]
        self._rows: list[dict[str, Any]] = []
        self._held: list[dict[int, Held]] = []  # per batch, by collector
        self._names: dict[int, list[str]] = {}  # the columns of each collector not held back
        self._started: list[Collector] = []
        context = CollectContext(table, self.split, epoch, model, run)
        for collector in self.active:
            collector.start(context)
            self._started.append(collector)
        self.specs: dict[str, metrics_mod.MetricSpec] = {}
        for collector in self.active:
            self.specs.update(collector.specs())

    def add(self, batch: Any, outputs: Any, ids: np.ndarray | None = None) -> None:
        """One batch the framework ran and what its step returned; ``ids`` when the caller
        knows the batch's ``example_id`` another way (a loader reading the table in order)."""
        if self.reason is not None:
            return
        ids = batch_example_ids(batch, outputs) if ids is None else ids
        if ids is None:
            self.reason = f"the batches carry no {ID_COLUMN!r}"
            return
        if not has_scores(outputs, len(ids)):
            self.reason = "the step did not return one score row per sample (logits)"
            return
        positions = self._positions(ids)
        if positions is None:
            self.reason = f"a batch holds an {ID_COLUMN} that is not a row of {self.table.name}"
            return
        row: dict[str, Any] = {ID_COLUMN: ids}
        held: dict[int, Held] = {}
        try:
            view = Batch(batch, None, ids, 0, self._columns, positions)
            for i, collector in enumerate(self.active):
                if holds(collector):
                    held[i] = collector.hold(view, outputs)  # computed for all batches at once
                else:
                    produced = collector.collect(view, outputs)
                    self._names.setdefault(i, list(produced))
                    add_columns(row, produced)
        except Exception as exc:  # the own pass raises it again, with the model's inputs
            self.reason = f"a collector could not read the step's outputs ({exc})"
            return
        self._rows.append(row)
        self._held.append(held)

    def finish(
        self, constants: Mapping[str, Any] | None = None, log_aggregates: bool = True
    ) -> CollectResult | None:
        """Write the pass (each ``example_id`` once, every row of the table covered), or None
        when it cannot be used: the caller then runs its own pass."""
        for collector in self._started:
            collector.finish()
        self._started = []
        fixed = plain_constants(constants)
        at = distributed.world()
        here = (
            np.concatenate([r[ID_COLUMN] for r in self._rows])
            if self._rows
            else np.zeros(0, dtype=np.int64)
        )
        everyone = (
            distributed.gather((self.reason, here))
            if at.group and at.distributed
            else [(self.reason, here)]
        )
        reasons = [r for r, _ in everyone if r is not None]
        if not reasons and self._held:
            try:
                self._rows = self._release()
            except Exception as exc:
                self.reason = f"a collector could not read the step's outputs ({exc})"
            if at.group and at.distributed:
                reasons = [r for r in distributed.gather(self.reason) if r is not None]
            elif self.reason is not None:
                reasons = [self.reason]
        if reasons:
            self.reason = self.reason or reasons[0]
            return None
        rank = at.rank if at.group and at.distributed else 0
        earlier = [ids for _, ids in everyone[:rank]]
        keep = _first_seen(here, np.concatenate(earlier) if earlier else here[:0])
        covered = np.unique(np.concatenate([ids for _, ids in everyone]))
        if len(covered) != len(self._sorted_ids):
            self.reason = (
                f"the loop saw {len(covered)} of the {len(self._sorted_ids)} rows of "
                f"{self.table.name}"
            )
            return None
        header = self.run.metrics_header(self.table, self.split, self.epoch)
        if fixed:
            header["constants"] = fixed
        url, rows = "", int(keep.sum())
        # Recorded before the file appears: a reader woken by it finds the run's input.
        self.run.add_input(self.table, self.split)
        if rows:
            url = self.run.metrics_url(self.split, self.epoch)
            writer = metrics_mod.MetricsWriter(url, header, self.specs)
            try:
                for out in _batches(self._rows, keep):
                    n = len(out[ID_COLUMN])
                    out.update({k: np.full(n, v) for k, v in fixed.items()})
                    writer.write(out)
            except BaseException:
                writer.abort()
                raise
            self.run.write_in_background(self.split, publisher(writer))
        self._rows, self._held = [], []
        aggregates: dict[str, float] = {}
        for collector in self.active:
            aggregates.update(collector.aggregates())
        if at.group and at.distributed:
            aggregates = distributed.combine_aggregates(distributed.gather((rows, aggregates)))
        if log_aggregates and aggregates:
            self.run.log_summary({f"{self.split}/{k}": v for k, v in aggregates.items()},
                                 self.epoch)  # fmt: skip
        return {
            "url": url,
            "split": self.split,
            "epoch": self.epoch,
            "rows": rows,
            "table": self.table.url,
            "aggregates": aggregates,
        }

    def _release(self) -> list[dict[str, Any]]:
        return release(self._rows, self._held, self.active, self._names)

    def close(self) -> None:
        """Unhook the collectors of a pass abandoned before :meth:`finish`."""
        for collector in self._started:
            collector.finish()
        self._started = []

    def _positions(self, ids: np.ndarray) -> np.ndarray | None:
        if not len(self._sorted_ids):
            return None
        found = np.minimum(np.searchsorted(self._sorted_ids, ids), len(self._sorted_ids) - 1)
        if not np.array_equal(self._sorted_ids[found], ids):
            return None
        return np.asarray(self._order[found], dtype=np.int64)


def batch_example_ids(batch: Any, outputs: Any) -> np.ndarray | None:
    """The ``example_id`` of each sample of a batch: its ``example_id`` entry, or the step's
    outputs'; None when neither has one."""
    for holder in (batch, outputs):
        if isinstance(holder, Mapping) and ID_COLUMN in holder:
            value = holder[ID_COLUMN]
            value = value.detach().cpu().numpy() if hasattr(value, "detach") else value
            ids = np.asarray(value)
            if ids.ndim == 1 and ids.dtype.kind in "iu":
                return ids.astype(np.int64)
    return None


def has_scores(outputs: Any, n: int) -> bool:
    """Whether a step's outputs hold one score row per sample (a loss alone does not)."""
    if isinstance(outputs, Mapping) and "logits" not in outputs:
        # a collector's outputs= may pick another entry
        return any(has_scores(v, n) for v in outputs.values() if not isinstance(v, Mapping))
    return score_rows(outputs) == n


def score_rows(outputs: Any) -> int | None:
    """How many samples a step's scores cover: the first axis of its logits (the ``logits``
    entry of a dict or ``ModelOutput``, the first item of a tuple); None without scores."""
    if isinstance(outputs, Mapping):
        outputs = outputs.get("logits")
    elif isinstance(outputs, tuple | list) and outputs:
        outputs = outputs[0]
    else:
        outputs = getattr(outputs, "logits", outputs)
    shape = getattr(outputs, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) >= 2 else None


def _first_seen(ids: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Which of ``ids`` neither an earlier rank holds nor appears before in ``ids``."""
    keep = ~np.isin(ids, earlier)
    _, first = np.unique(ids, return_index=True)
    once = np.zeros(len(ids), dtype=bool)
    once[first] = True
    return keep & once


def _batches(rows: list[dict[str, Any]], keep: np.ndarray) -> list[dict[str, Any]]:
    """The rows to write: the batches joined into one (one Arrow conversion per column, not
    one per batch), or, when their columns do not join (types that differ from batch to
    batch), batch by batch as the writer casts them."""
    picked = None if keep.all() else np.flatnonzero(keep)
    try:
        return [joined_rows(rows, picked)]
    except (pa.ArrowException, TypeError, ValueError, IndexError):
        out, at = [], 0
        for row in rows:
            n = len(row[ID_COLUMN])
            mine = np.flatnonzero(keep[at : at + n])
            at += n
            if len(mine):
                out.append(joined_rows([row], None if len(mine) == n else mine))
        return out
