"""The collector API: what a collection pass hands collectors (:class:`Batch`,
:class:`CollectContext`), the base class, and collectors made of a function."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from tercet.errors import RunError
from tercet.runs.collectors import outputs as outputs_mod
from tercet.runs.metrics import MetricSpec
from tercet.tables.table import Table


class RunTarget(Protocol):
    """What a collection pass writes into (:class:`tercet.Run` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    def wait(self, key: str | None = None) -> None: ...

    def next_epoch(self, split: str) -> int: ...

    def metrics_url(self, split: str, epoch: int) -> str: ...

    def metrics_header(self, table: Table, split: str, epoch: int) -> dict[str, Any]: ...

    def write_in_background(self, key: str, task: Callable[[], Any]) -> None: ...

    def add_input(self, table: Table | str, split: str | None = None) -> None: ...

    def log_summary(self, values: Mapping[str, Any], epoch: int | None) -> None: ...


@dataclass
class CollectContext:
    """What a collection pass is about; given to :meth:`Collector.start`."""

    table: Table
    split: str
    epoch: int
    model: Any
    run: RunTarget


_READ: weakref.WeakKeyDictionary[Table, dict[str, Any]] = weakref.WeakKeyDictionary()
"""Columns already read, per table revision (a revision never changes): the passes of every
epoch over one table read its ids and labels once."""


class TableColumns:
    """Columns of the input table as NumPy arrays (lists for nested types), read on first use
    and kept for later passes over the same revision while the table object lives."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._cache: dict[str, Any] = _READ.setdefault(table, {})

    def get(self, name: str) -> Any:
        if name not in self._cache:
            column = self.table.to_arrow([name]).column(name).combine_chunks()
            typ = column.type
            if pa.types.is_integer(typ) and column.null_count:
                self._cache[name] = column.fill_null(-1).to_numpy()  # -1: no label
            elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
                self._cache[name] = column.to_numpy(zero_copy_only=False)
            else:
                self._cache[name] = column.to_pylist()
        return self._cache[name]


class Batch:
    """One batch as collectors see it.

    Attributes
    ----------
    data
        What the DataLoader yielded (after collation).
    inputs
        What was passed to the model.
    example_ids
        ``example_id`` of each sample, in batch order.
    """

    def __init__(self, data: Any, inputs: Any, example_ids: np.ndarray, start: int,
                 columns: TableColumns, positions: np.ndarray | None = None) -> None:  # fmt: skip
        self.data = data
        self.inputs = inputs
        self.example_ids = example_ids
        self.start = start
        self._columns = columns
        # Row numbers in the table when the samples are not a contiguous run of its rows (a
        # dataset made elsewhere, in its own order).
        self._positions = positions

    def __len__(self) -> int:
        return len(self.example_ids)

    def column(self, name: str) -> Any:
        """Values of a column of the input table for the samples of this batch."""
        values = self._columns.get(name)
        if self._positions is not None:
            if isinstance(values, list):
                return [values[i] for i in self._positions]
            return values[self._positions]
        return values[self.start : self.start + len(self.example_ids)]


class Collector:
    """Base class. Subclasses implement :meth:`collect`; the rest is optional."""

    def start(self, context: CollectContext) -> None:
        """Called once before the first batch (register hooks, reset running sums)."""

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        """Per-sample columns for ``batch``: each value has one entry (or row) per sample."""
        raise NotImplementedError

    def specs(self) -> dict[str, MetricSpec]:
        """Roles of the columns this collector writes (after :meth:`start`)."""
        return {}

    def aggregates(self) -> dict[str, float]:
        """Epoch-level scalars logged on the run as ``<split>/<name>``."""
        return {}

    def finish(self) -> None:
        """Called once after the last batch, also on error (remove hooks)."""


def to_numpy(value: Any) -> np.ndarray:
    """A tensor, array or list as a NumPy array on the CPU."""
    detach = getattr(value, "detach", None)
    if callable(detach):
        tensor = detach().cpu()
        if str(tensor.dtype) in ("torch.bfloat16", "torch.float16"):
            tensor = tensor.float()
        return np.asarray(tensor.numpy())
    return np.asarray(value)


def select_outputs(outputs: Any, selector: Callable[[Any], Any] | None) -> Any:
    """The class scores in ``outputs`` (:func:`tercet.runs.collectors.outputs.select_outputs`)."""
    return outputs_mod.select_outputs(outputs, selector, who="ClassificationCollector")


def only_column(table: Table, role: str, what: str, wanted: str | None) -> str | None:
    if wanted is not None:
        table.schema[wanted]  # raises naming the columns there are
        return wanted
    found = [c.name for c in table.schema if c.role == role]
    if len(found) > 1:
        raise RunError(
            f"{table.name} has several {role} columns ({', '.join(found)}); tell the {what} "
            f"which one to use."
        )
    return found[0] if found else None


class FunctionCollector(Collector):
    """Metrics from a plain function ``fn(batch, outputs) -> {column: per-sample values}``.

    Parameters
    ----------
    fn
        Returns arrays or tensors with one entry (or row) per sample.
    roles
        Column roles (``{"margin": "number"}``) or :class:`MetricSpec` values (display name,
        description, hidden by default, and for a ``prediction`` column a value map, or
        ``value_map="label"`` to share the label column's); inferred when left out.
    aggregate
        Columns whose mean is logged per epoch.
    """

    def __init__(
        self,
        fn: Callable[[Batch, Any], Mapping[str, Any]],
        roles: Mapping[str, str | MetricSpec] | None = None,
        aggregate: Sequence[str] = (),
    ) -> None:
        self.fn = fn
        self.roles = {
            k: v if isinstance(v, MetricSpec) else MetricSpec(v) for k, v in (roles or {}).items()
        }
        self.aggregate = list(aggregate)
        self._specs = dict(self.roles)
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def start(self, context: CollectContext) -> None:
        self._specs = {k: v.resolved(context.table) for k, v in self.roles.items()}
        self._sums = dict.fromkeys(self.aggregate, 0.0)
        self._counts = dict.fromkeys(self.aggregate, 0)

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        produced = self.fn(batch, outputs)
        if not isinstance(produced, Mapping):
            raise RunError(f"{self.fn!r} must return a dict of columns; received {produced!r}.")
        out = {
            str(k): v if isinstance(v, pa.Array | pa.ChunkedArray) else to_numpy(v)
            for k, v in produced.items()
        }
        for name in self.aggregate:
            if name not in out:
                raise RunError(f"Aggregate {name!r} is not among the columns {sorted(out)}.")
            values = np.asarray(out[name], dtype=np.float64)
            finite = values[np.isfinite(values)]
            self._sums[name] += float(finite.sum())
            self._counts[name] += int(finite.size)
        return out

    def specs(self) -> dict[str, MetricSpec]:
        return dict(self._specs)

    def aggregates(self) -> dict[str, float]:
        return {n: self._sums[n] / self._counts[n] for n in self.aggregate if self._counts.get(n)}


def as_collectors(collectors: Collector | Callable[..., Any] | Sequence[Any]) -> list[Collector]:
    """A list of collectors; plain functions become :class:`FunctionCollector`."""
    items = (
        [collectors] if isinstance(collectors, Collector) or callable(collectors) else collectors
    )
    out: list[Collector] = []
    for item in items:  # type: ignore[union-attr]
        if isinstance(item, Collector):
            out.append(item)
        elif callable(item):
            out.append(FunctionCollector(item))
        else:
            raise RunError(f"{item!r} is not a collector: pass Collector objects or functions.")
    if not out:
        raise RunError("collect_metrics needs at least one collector.")
    return out
