"""Logged scalars (loss, accuracy, learning rate …): buffered in memory, written every few seconds
as immutable Parquet parts under ``metrics/aggregate/``, read back as one long table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import storage
from tercet.errors import RunError
from tercet.runs import folder

FLUSH_SECONDS = 10.0
FLUSH_ROWS = 10_000

SCHEMA = pa.schema(
    [
        ("step", pa.int64()),
        ("epoch", pa.int64()),
        ("name", pa.string()),
        ("value", pa.float64()),
        ("time", pa.timestamp("us", tz="UTC")),
    ]
)

_Row = tuple[int, int | None, str, float, datetime]


class ScalarLog:
    """The scalars of one run: :meth:`log` buffers, :meth:`flush` writes one part."""

    def __init__(
        self,
        run_url: str,
        on_write: Callable[[str], None] | None = None,
        submit: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.run_url = run_url
        # Given, a part due on time is written by ``submit`` (the run's writer thread), not by
        # the thread that logs: a training step never waits for a Parquet write and its fsync.
        self._submit = submit
        self._queued = False
        # Given, parts are written without an fsync and handed to it to be made durable
        # (tercet.runs.durable); otherwise each part is synced as it is written.
        self._on_write = on_write
        self._lock = threading.Lock()
        self._rows: list[_Row] = []
        self._last_flush = time.monotonic()
        self._step = -1

    def log(self, values: Mapping[str, Any], step: int | None, epoch: int | None,
            advance: bool = True) -> None:  # fmt: skip
        """Buffer ``values`` at ``step`` (by default one past the last step when ``advance``,
        else the last step); an ``"epoch"`` or ``"step"`` key is taken as such, not logged."""
        values = dict(values)
        if epoch is None and "epoch" in values:
            epoch = int(scalar("epoch", values.pop("epoch")))
        if step is None and "step" in values:
            step = int(scalar("step", values.pop("step")))
        rows = [(name, scalar(name, v)) for name, v in values.items()]
        now = datetime.now(UTC)
        with self._lock:
            if step is None:
                step = self._step + 1 if advance else max(self._step, 0)
            self._step = max(self._step, step)
            for name, value in rows:
                self._rows.append((step, epoch, str(name), value, now))
            due = (
                len(self._rows) >= FLUSH_ROWS
                or time.monotonic() - self._last_flush >= FLUSH_SECONDS
            )
        if not due:
            return
        if self._submit is None:
            self.flush()
            return
        with self._lock:
            if self._queued:
                return
            self._queued = True
        try:
            self._submit(self._flush_soon)
        except RuntimeError:  # no new threads while the interpreter exits: write it here
            self._flush_soon()

    def _flush_soon(self) -> None:
        """The flush queued by :meth:`log`; a failure keeps the values for the next flush
        (the run's close, which raises it), as the heartbeat's flush does."""
        with self._lock:
            self._queued = False
        with suppress(Exception):
            self.flush()

    @property
    def pending(self) -> bool:
        """Whether values wait to be written."""
        with self._lock:
            return bool(self._rows)

    def flush(self) -> None:
        """Write the buffered values as one part; on failure they stay buffered."""
        with self._lock:
            rows, self._rows = self._rows, []
            self._last_flush = time.monotonic()
        if not rows:
            return
        steps, epochs, keys, values, times = zip(*rows, strict=True)
        table = pa.table(
            [
                pa.array(steps, pa.int64()),
                pa.array(epochs, pa.int64()),
                pa.array(keys, pa.string()),
                pa.array(values, pa.float64()),
                pa.array(times, pa.timestamp("us", tz="UTC")),
            ],
            schema=SCHEMA,
        )
        url = storage.join(folder.aggregate_folder(self.run_url), folder.aggregate_file_name())
        try:
            storage.write_parquet(url, table, durable=self._on_write is None)
        except BaseException:
            with self._lock:
                self._rows[:0] = rows  # keep them for the next attempt
            raise
        if self._on_write is not None:
            self._on_write(url)


def read(run_url: str) -> pa.Table:
    """Every scalar a run logged, in long form: ``step``, ``epoch``, ``name``, ``value``,
    ``time``, sorted by step and time."""
    files = folder.aggregate_files(run_url)
    if not files:
        return SCHEMA.empty_table()
    table = storage.read_parquet(files).cast(SCHEMA)
    return table.sort_by([("step", "ascending"), ("time", "ascending")])


def scalar(name: str, value: Any) -> float:
    """``value`` as a float: Python and NumPy numbers, one-element arrays and tensors."""
    if isinstance(value, bool | int | float | np.number | np.bool_):
        return float(value)
    item = getattr(value, "item", None)
    size = getattr(value, "size", None)
    numel = getattr(value, "numel", None)
    count = numel() if callable(numel) else size
    if callable(item) and count in (1, None):
        try:
            return float(item())
        except (TypeError, ValueError):
            pass
    raise RunError(
        f"tercet.log: {name!r} must be a number (int, float, NumPy scalar or one-element tensor); "
        f"received {type(value).__name__}."
    )
