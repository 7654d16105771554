"""The active run: :func:`init` starts one, :func:`log` and :func:`collect_metrics` write into it,
and process hooks record how it ended.

An uncaught exception marks the active run ``failed``, a SIGTERM ``failed`` (terminated),
interpreter exit ``completed``; a process killed outright leaves it ``running`` until readers see
its heartbeat stop (``stale``). Revisions made into training data while a run is active are
recorded as its inputs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from tercet import layout
from tercet.errors import RunError, TercetError
from tercet.runs import collect, distributed, names
from tercet.runs.collect import CollectResult
from tercet.runs.collectors import Collector
from tercet.runs.run import Run, describe_exception
from tercet.tables import usage
from tercet.tables.table import Table

if TYPE_CHECKING:
    from tercet.torch import TableDataset

_active: Run | None = None
_hooks_installed = False
_previous_excepthook: Callable[..., Any] | None = None


def init(
    project: str = "default",
    run: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    root: str | None = None,
    heartbeat: bool = True,
    insights: bool = False,
) -> Run:
    """Start a run and make it the active one.

    Parameters
    ----------
    project
        Project (display or folder name) under the root (created when missing).
    run
        Run name, any printable text (its folder is a slug of it, as for tables); ``name-2``,
        ``name-3`` … when taken, a readable generated name when omitted.
    parameters
        Hyperparameters and settings to record (JSON-able values).
    root
        Project root URL; defaults to the configured ``root``.
    heartbeat
        Write a heartbeat event every two minutes, so a killed process reads as ``stale``.
    insights
        At :meth:`Run.close` (completed), compute insights (:func:`tercet.insights.compute`)
        for every split with classification metrics; a split where none applies is skipped
        with a warning, and the run still completes.

    Returns
    -------
    Run
        The new run. An uncaught exception marks it ``failed``; interpreter exit marks it
        ``completed`` unless it was closed before. A previous active run is closed as completed.

    Notes
    -----
    Under ``torchrun`` (or any launcher setting ``RANK``/``WORLD_SIZE``) every rank calls
    ``init`` alike and gets the same run: rank 0 creates it, the others join it (see
    ``docs/integrations.md``). Rank 0 records parameters, scalars and the final status; every
    rank writes its share of each metrics pass, and a rank that fails marks the run ``failed``.
    """
    global _active
    previous = _active
    if previous is not None and not previous.closed and previous.attached:
        previous.close("completed")
    new = _start(project, run, parameters, root)
    if insights and new.rank == 0:
        new.on_close.append(_compute_insights)
    if heartbeat and new.rank == 0:
        new.start_heartbeat()
    _install_hooks()
    _active = new
    return new


def _start(
    project: str, name: str | None, parameters: Mapping[str, Any] | None, root: str | None
) -> Run:
    """A new run, or under a distributed launch the one run every rank attaches to."""
    at = distributed.world()
    if not at.distributed:
        return Run.create(project, name, parameters, root)
    if at.group:
        if at.rank == 0:
            try:
                created = Run.create(project, name, parameters, root)
            except BaseException:
                distributed.broadcast(None)  # the other ranks fail too instead of waiting
                raise
            created.set_world(0, at.size)
            distributed.broadcast(created.url)
            return created
        url = distributed.broadcast(None)
        if url is None:
            raise RunError(f"Rank 0 could not create the run in {project!r}; see its error.")
        joined = Run.open(url)
        joined.join(at.rank, at.size)
        return joined
    key = distributed.launch_key()
    if key is None:
        raise RunError(
            f"This process is rank {at.rank} of {at.size} (RANK/WORLD_SIZE), but no process "
            "group is initialised and no launcher variables say which run to join: call "
            "torch.distributed.init_process_group() before tercet.init, launch with torchrun, "
            f"or set {distributed.KEY_VARIABLE} to one value on every rank."
        )
    if at.rank == 0:
        new = Run.create(project, name, parameters, root, run_id=key)
        new.set_world(0, at.size)
        return new
    runs_url = layout.runs_url(project, root)
    joined = Run.open(distributed.find_run(runs_url, names.candidates(name, seed=key), key))
    joined.join(at.rank, at.size)
    return joined


def active_run() -> Run | None:
    """The run started last by :func:`init` in this process, unless it was closed."""
    run = _active
    if run is None or run.closed or not run.attached:
        return None  # forked DataLoader workers inherit it but do not own it
    return run


def require_run(run: Run | None = None) -> Run:
    """``run``, else the active run; :class:`RunError` when there is neither."""
    found = run or active_run()
    if found is None:
        raise RunError("No active run: call tercet.init(project=...) first, or pass run=.")
    return found


def log(values: Mapping[str, Any], step: int | None = None, epoch: int | None = None) -> None:
    """Log scalars on the active run (see :meth:`Run.log`)."""
    require_run().log(values, step=step, epoch=epoch)


def collect_metrics(
    data: Table | TableDataset[Any] | Any,
    collectors: Collector | Callable[..., Any] | Sequence[Collector | Callable[..., Any]],
    model: Any,
    *,
    epoch: int | None = None,
    split: str | None = None,
    run: Run | None = None,
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
    """Run ``model`` over every sample of a table and write per-sample metrics into the run.

    Batched, under ``torch.no_grad()``, on the model's device, with the model in eval mode (its
    train/eval mode is restored afterwards). Writes one immutable Parquet file per call, keyed by
    ``example_id`` and the table revision, and logs the collectors' aggregates (mean loss,
    accuracy …) as ``<split>/<name>`` for this epoch.

    Parameters
    ----------
    data
        A table (its latest revision, as row dicts) or a :class:`TableDataset` such as
        ``table.map(transform)``: samples are in table order either way. Or any other dataset
        whose samples carry an ``example_id`` column (a tokenised Hugging Face dataset), with
        ``table=``.
    collectors
        :class:`Collector` objects, or functions ``fn(batch, outputs) -> dict``.
    model
        A ``torch.nn.Module`` (or any callable taking the batch's inputs).
    epoch
        Defaults to one past the last epoch collected for this split.
    split
        Name of the split (``train``, ``val`` …); defaults to the table's name.
    run
        Defaults to the active run (:func:`tercet.init`).
    batch_size, num_workers, collate_fn
        For the ``DataLoader`` that feeds the model.
    inputs
        Picks the model input from a collated batch; by default the first item of a tuple/list,
        the ``"input"``/``"image"`` entry of a dict, or the batch itself.
    device
        Defaults to the device of the model's first parameter.
    progress
        Show a progress bar.
    wait
        Return only once the file is written. By default its last part is written (and synced
        to disk) on the run's writer thread while training goes on; the next call for the same
        split, :meth:`Run.wait`, reading the run's metrics and :meth:`Run.close` wait for it.
    table
        The table the samples of a dataset made outside Tercet come from.
    forward
        ``forward(model, inputs) -> outputs``; default ``model(inputs)``. Hugging Face models
        take ``lambda model, batch: model(**batch)``.
    constants
        Values the same for every sample of this pass (``{"lr": 3e-4}``), stored as columns of
        the epoch's file and named in its metadata.
    shard
        Split the table across the ranks of a distributed launch, each writing its own part of
        the epoch. Default: when a ``torch.distributed`` process group is initialised.

    Returns
    -------
    CollectResult
        URL of the new metrics file, rows written and aggregates.
    """
    return collect.collect_metrics(
        data,
        collectors,
        model,
        epoch=epoch,
        split=split,
        run=require_run(run),
        batch_size=batch_size,
        num_workers=num_workers,
        inputs=inputs,
        collate_fn=collate_fn,
        device=device,
        progress=progress,
        log_aggregates=log_aggregates,
        wait=wait,
        table=table,
        forward=forward,
        constants=constants,
        shard=shard,
    )


def _compute_insights(run: Run) -> None:
    from tercet.insights import compute

    failures = []
    for split in run.splits:
        try:
            compute(run, split=split)
        except TercetError as exc:
            failures.append(f"no insights for split {split!r}: {exc}")
    if failures:
        raise RunError("; ".join(failures))


def _record_training_read(revision: object, split: str | None) -> None:
    run = active_run()
    if run is not None and isinstance(revision, Table):
        run.add_input(revision, split)


usage.subscribe(_record_training_read)


def _install_hooks() -> None:
    global _hooks_installed, _previous_excepthook
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass  # not allowed here (embedded interpreters); the heartbeat still reveals the death


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    run = active_run()
    if run is not None:
        with contextlib.suppress(Exception):  # reporting the original error matters more
            run.close("failed", error=describe_exception(exc_type, exc, tb))
    hook = _previous_excepthook or sys.__excepthook__
    hook(exc_type, exc, tb)


def _at_exit() -> None:
    run = active_run()
    if run is not None:
        with contextlib.suppress(Exception):
            run.close("completed")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    run = active_run()
    if run is not None:
        with contextlib.suppress(Exception):
            run.close("failed", error="terminated by SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
