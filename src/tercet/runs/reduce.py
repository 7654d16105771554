"""Embedding reduction: one fit, applied to every epoch, so points stay comparable over training.

The reducer is fitted once on the embeddings of one metrics file (a split and epoch; by default
the training split's first epoch) and then projects every metrics file of the run. Projections are
immutable Parquet files beside their metrics file,
``metrics/<split>/projections/<method>-<dims>d/<metrics file name>``, holding ``example_id`` and
``proj_x``, ``proj_y``[, ``proj_z``]. Calling again later projects only the files that have no
projection yet, with the same fit: PCA is rebuilt from the parameters stored with the fitted
file's projection; UMAP and PaCMAP are refitted with the same seed on the same data.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from tercet import format, storage
from tercet.dependencies import require
from tercet.errors import RunError
from tercet.runs import folder
from tercet.runs import metrics as metrics_mod
from tercet.runs.folder import MetricsFile
from tercet.runs.metrics import MetricSpec
from tercet.runs.reducers import REDUCERS, PCAReducer, Reducer, check_options
from tercet.schema import ID_COLUMN


class Run(Protocol):
    """What a reduction reads and keeps on a run (:class:`tercet.Run` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def reducers(self) -> dict[tuple[Any, ...], Any]: ...

    def metric_files(
        self, split: str | None = None, epoch: int | None = None
    ) -> list[MetricsFile]: ...


METHODS = ("pca", "umap", "pacmap")
AXES = ("x", "y", "z")
CHUNK = 64 * 1024


class ReductionJob:
    """Handle on a reduction; :meth:`wait` for it when it runs in the background.

    Attributes
    ----------
    files
        URLs of the projection files written so far.
    """

    def __init__(self) -> None:
        self.files: list[str] = []
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def done(self) -> bool:
        """True once the reduction ended (files written, or failed)."""
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop after the file being written (files already written stay)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> list[str]:
        """Block until the reduction ends; return the projection files, or raise its error."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"The reduction did not finish within {timeout} s.")
        if self.error is not None:
            raise self.error
        return list(self.files)


@dataclass
class _Plan:
    method: str
    dims: int
    column: str
    fit: MetricsFile
    targets: list[MetricsFile]
    headers: dict[str, dict[str, Any]]
    max_fit_samples: int | None
    seed: int
    options: dict[str, Any]


def reduce_embeddings(
    run: Run,
    method: str = "pca",
    dims: int = 3,
    *,
    column: str | None = None,
    fit_split: str | None = None,
    fit_epoch: int | None = None,
    splits: Sequence[str] | None = None,
    max_fit_samples: int | None = 100_000,
    seed: int = 0,
    background: bool = False,
    progress: bool = True,
    **options: Any,
) -> ReductionJob:
    """Project a run's embeddings to ``dims`` dimensions with a single fit.

    Parameters
    ----------
    run
        The run whose metrics files hold an ``embedding`` column.
    method
        ``"pca"`` (base install), ``"umap"`` or ``"pacmap"`` (``pip install 'tercet[umap]'``).
    dims
        2 or 3.
    column
        Embedding column; by default the only one.
    fit_split, fit_epoch
        The metrics file to fit on; default the ``train`` split (else the first) at its first
        epoch.
    splits
        Splits to project; default all.
    max_fit_samples
        Fit on a random subset this large (``None``: all rows).
    seed
        Random state of the reducer and the subset.
    background
        Run in a thread and return at once; ``job.wait()`` for the result.
    progress
        Show progress (rich) while fitting and projecting.
    **options
        Passed to the reducer (``n_neighbors=…`` for UMAP).

    Returns
    -------
    ReductionJob
        Finished unless ``background``; ``job.files`` lists the projection files written.
    """
    if method not in METHODS:
        raise RunError(f"Unknown reduction method {method!r}; use one of {', '.join(METHODS)}.")
    if dims not in (2, 3):
        raise RunError(f"dims must be 2 or 3; received {dims!r}.")
    if method != "pca":
        module = "umap" if method == "umap" else "pacmap"
        require(module, f"{method.upper()} reduction (PCA works without it)", RunError)  # fail fast
    check_options(method, options, RunError)
    plan = _plan(run, method, dims, column, fit_split, fit_epoch, splits, max_fit_samples, seed,
                 options)  # fmt: skip
    job = ReductionJob()

    def work() -> None:
        try:
            _execute(run, plan, job, progress)
        except BaseException as exc:
            job.error = exc
        finally:
            job._done.set()

    if background:
        job._thread = threading.Thread(
            target=storage.carry(work), name=f"tercet-reduce-{run.name}", daemon=True
        )
        job._thread.start()
    else:
        work()
        if job.error is not None:
            raise job.error
    return job


def _embedding_columns(header: dict[str, Any]) -> list[str]:
    return [c["name"] for c in header.get("columns", []) if c.get("role") == "embedding"]


def _plan(
    run: Run, method: str, dims: int, column: str | None, fit_split: str | None,
    fit_epoch: int | None, splits: Sequence[str] | None, max_fit_samples: int | None, seed: int,
    options: dict[str, Any],
) -> _Plan:  # fmt: skip
    files = run.metric_files()
    headers = {f["url"]: metrics_mod.read_header(f["url"]) for f in files}
    if column is None:
        found = sorted({c for f in files for c in _embedding_columns(headers[f["url"]])})
        if not found:
            raise RunError(
                f"Run {run.name} has no embeddings to reduce: collect them with "
                "EmbeddingCollector(layer=...)."
            )
        if len(found) > 1:
            raise RunError(f"Run {run.name} has several embedding columns {found}; pass column=.")
        column = found[0]
    with_column = [f for f in files if column in _embedding_columns(headers[f["url"]])]
    if not with_column:
        raise RunError(f"No metrics file of run {run.name} has an embedding column {column!r}.")
    available = sorted({f["split"] for f in with_column})
    if fit_split is None:
        fit_split = "train" if "train" in available else available[0]
    candidates = [f for f in with_column if f["split"] == fit_split]
    if not candidates:
        raise RunError(f"No embeddings for split {fit_split!r}; splits with them: {available}.")
    if fit_epoch is None:
        fit_epoch = min(f["epoch"] for f in candidates)
    at_epoch = [f for f in candidates if f["epoch"] == fit_epoch]
    if not at_epoch:
        epochs = sorted({f["epoch"] for f in candidates})
        raise RunError(f"No {fit_split!r} embeddings at epoch {fit_epoch}; epochs: {epochs}.")
    fit = at_epoch[-1]
    wanted = set(splits) if splits is not None else None
    targets = [
        f for f in with_column
        if (wanted is None or f["split"] in wanted)
        and not storage.exists(folder.projection_url(f["url"], method, dims))
    ]  # fmt: skip
    return _Plan(method, dims, column, fit, targets, headers, max_fit_samples, seed, options)


def _read_embeddings(url: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    table = storage.read_parquet(url, columns=[ID_COLUMN, column])
    ids = table.column(ID_COLUMN).to_numpy()
    values = table.column(column).combine_chunks()
    width = values.type.list_size
    flat = values.flatten().to_numpy(zero_copy_only=False)
    return ids, flat.reshape(len(values), width).astype(np.float32, copy=False)


def _reducer(run: Run, plan: _Plan) -> tuple[Reducer, np.ndarray | None]:
    """The fitted reducer, and the fit file's coordinates when the fit covered all its rows."""
    key = (plan.method, plan.dims, plan.column, plan.fit["url"], plan.seed, plan.max_fit_samples,
           tuple(sorted(plan.options.items())))  # fmt: skip
    cached = run.reducers.get(key)
    if cached is not None:
        return cached, None
    fit_projection = folder.projection_url(plan.fit["url"], plan.method, plan.dims)
    if plan.method == "pca" and storage.exists(fit_projection):
        stored = metrics_mod.read_header(fit_projection).get("reducer")
        if isinstance(stored, dict) and stored.get("column") == plan.column:
            reducer: Reducer = PCAReducer.from_state(plan.dims, stored)
            run.reducers[key] = reducer
            return reducer, None
    _, x = _read_embeddings(plan.fit["url"], plan.column)
    sample = x
    if plan.max_fit_samples is not None and len(x) > plan.max_fit_samples:
        rng = np.random.default_rng(plan.seed)
        sample = x[np.sort(rng.choice(len(x), plan.max_fit_samples, replace=False))]
    reducer = REDUCERS[plan.method](plan.dims, plan.seed, **plan.options)
    coordinates = reducer.fit(sample)
    run.reducers[key] = reducer
    return reducer, coordinates if sample is x else None


def _execute(run: Run, plan: _Plan, job: ReductionJob, progress: bool) -> None:
    if not plan.targets:
        return
    total = 0
    for f in plan.targets:
        total += storage.read_parquet_metadata(f["url"]).num_rows
    bar = _progress_bar(progress)
    try:
        if bar is not None:
            fit_task = bar.add_task(
                f"fitting {plan.method} on {plan.fit['split']} epoch {plan.fit['epoch']}",
                total=None,
            )
        reducer, fit_coordinates = _reducer(run, plan)
        if bar is not None:
            bar.update(fit_task, total=1, completed=1)
            task = bar.add_task(f"projecting to {plan.dims}d", total=total)
        for f in plan.targets:
            if job._cancel.is_set():
                raise RunError("The reduction was cancelled; files written so far are kept.")
            ids, x = _read_embeddings(f["url"], plan.column)
            if f["url"] == plan.fit["url"] and fit_coordinates is not None:
                points = fit_coordinates
                if bar is not None:
                    bar.advance(task, len(ids))
            else:
                parts = []
                for lo in range(0, len(x), CHUNK):
                    parts.append(reducer.transform(x[lo : lo + CHUNK]))
                    if bar is not None:
                        bar.advance(task, min(CHUNK, len(x) - lo))
                points = np.concatenate(parts) if parts else np.zeros((0, plan.dims), np.float32)
            job.files.append(_write_projection(run, plan, f, ids, points, reducer))
    finally:
        if bar is not None:
            bar.stop()


def _write_projection(run: Run, plan: _Plan, source: MetricsFile, ids: np.ndarray,
                      points: np.ndarray, reducer: Reducer) -> str:  # fmt: skip
    header = plan.headers[source["url"]]
    out = {
        k: header.get(k)
        for k in ("run", "table", "table_id", "table_name", "dataset", "split", "epoch")
    }
    out.update(
        {
            "format": format.METRICS_FORMAT,
            "format_version": format.METRICS_FORMAT_VERSION,
            "kind": "projection",
            "method": plan.method,
            "dims": plan.dims,
            "source": plan.column,
            "metrics_file": source["name"],
            "fit": {"split": plan.fit["split"], "epoch": plan.fit["epoch"],
                    "file": plan.fit["name"], "seed": plan.seed},
        }
    )  # fmt: skip
    state = reducer.state() if source["url"] == plan.fit["url"] else None
    if state is not None:
        out["reducer"] = {**state, "column": plan.column}
    names = [f"proj_{a}" for a in AXES[: plan.dims]]
    columns = {ID_COLUMN: pa.array(ids, pa.int64())}
    for i, n in enumerate(names):
        columns[n] = pa.array(np.ascontiguousarray(points[:, i], np.float32))
    table = pa.table(columns)
    specs = {
        n: MetricSpec("projection", None, {"axis": a}) for n, a in zip(names, AXES, strict=False)
    }
    url = folder.projection_url(source["url"], plan.method, plan.dims)
    metrics_mod.write_table(url, table, out, specs)
    return url


def _progress_bar(enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=Console(stderr=True), transient=True,
    )  # fmt: skip
    bar.start()
    return bar
