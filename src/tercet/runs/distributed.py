"""Many processes, one run: the ranks of a ``torchrun`` launch write into the run rank 0 creates.

How the ranks meet:

- **a process group is initialised** (``torch.distributed.init_process_group`` ran before
  :func:`tercet.init`): rank 0 creates the run and broadcasts its URL;
- **no process group yet** (the usual case: Lightning and the Hugging Face Trainer start it
  later): every rank derives the same key from the launcher's environment (:func:`launch_key`);
  rank 0 creates the run with that key as its id, the others walk the same name candidates until
  they find the run carrying it.

While collecting, each rank takes one contiguous share of the table (:func:`shard`): every
``example_id`` lands on exactly one rank, with none of the repeated samples a
``DistributedSampler`` pads the last shares with. Each rank writes its share as its own metrics
file of the epoch; readers take an epoch's files together (:func:`tercet.runs.metrics.keep_last`).

torch is looked up in ``sys.modules`` and never imported here: a process that has not imported
``torch.distributed`` cannot have a process group.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from tercet import format, storage
from tercet.errors import ObjectNotFoundError, RunError, StorageError

KEY_VARIABLE = "TERCET_RUN_KEY"
"""Set to the same value on every rank to join them when the launcher is not ``torchrun``."""
JOIN_TIMEOUT = 300.0
"""Seconds a rank other than 0 waits for rank 0 to create the run."""
_LAUNCH_VARIABLES = (
    "TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT",
    "GROUP_WORLD_SIZE", "WORLD_SIZE",
)  # fmt: skip


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a launch."""

    rank: int = 0
    size: int = 1
    group: bool = False  # a torch.distributed process group is initialised

    @property
    def distributed(self) -> bool:
        return self.size > 1


def _dist() -> Any:
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def world() -> World:
    """The process group's rank and size when one is initialised, else the launcher's ``RANK``
    and ``WORLD_SIZE`` variables, else a single process."""
    dist = _dist()
    if dist is not None:
        return World(int(dist.get_rank()), int(dist.get_world_size()), True)
    try:
        rank = int(os.environ.get("RANK", "0"))
        size = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise RunError(
            f"RANK={os.environ.get('RANK')!r} and WORLD_SIZE={os.environ.get('WORLD_SIZE')!r} "
            "must be integers (set by torchrun)."
        ) from None
    if size < 1 or not 0 <= rank < size:
        raise RunError(f"RANK={rank} does not fit WORLD_SIZE={size}.")
    return World(rank, size, False)


def launch_key() -> str | None:
    """An id every rank of one launch derives alike: :data:`KEY_VARIABLE` when set, else a hash
    of torchrun's rendezvous variables (with the launcher's pid on a single node, since
    ``torchrun`` without ``--rdzv-id`` reuses the id ``none``); None outside a launch."""
    explicit = os.environ.get(KEY_VARIABLE)
    if explicit:
        return hashlib.sha256(explicit.encode()).hexdigest()[:32]
    if "MASTER_PORT" not in os.environ:
        return None
    parts = [f"{v}={os.environ.get(v, '')}" for v in _LAUNCH_VARIABLES]
    if os.environ.get("LOCAL_WORLD_SIZE") == os.environ.get("WORLD_SIZE"):
        parts.append(f"agent={os.getppid()}")  # one node: every rank is a child of one agent
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank of the process group (``value`` itself without one)."""
    dist = _dist()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` without a process group)."""
    dist = _dist()
    if dist is None:
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def barrier() -> None:
    """Wait for every rank of the process group (nothing without one)."""
    dist = _dist()
    if dist is not None:
        dist.barrier()


def shard(count: int, at: World) -> tuple[int, int]:
    """The rows ``[start, stop)`` of ``count`` that rank ``at.rank`` collects: contiguous shares
    whose sizes differ by at most one, together covering every row exactly once."""
    base, extra = divmod(count, at.size)
    start = at.rank * base + min(at.rank, extra)
    return start, start + base + (1 if at.rank < extra else 0)


def combine_aggregates(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Epoch aggregates of the whole table from each rank's ``(rows, aggregates)``: means
    weighted by the rows each rank collected."""
    names = sorted({name for _, values in parts for name in values})
    out: dict[str, float] = {}
    for name in names:
        pairs = [(rows, values[name]) for rows, values in parts if name in values and rows]
        total = sum(rows for rows, _ in pairs)
        if total:
            out[name] = sum(rows * value for rows, value in pairs) / total
    return out


def find_run(runs_url: str, candidates: list[str], key: str,
             timeout: float = JOIN_TIMEOUT) -> str:  # fmt: skip
    """The folder of the run whose id is ``key`` among ``candidates`` (tried in order, as rank 0
    tried them), waiting up to ``timeout`` seconds for rank 0 to create it."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        for name in candidates:
            run_folder = storage.join(runs_url, name)
            try:
                descriptor = storage.read_json(format.descriptor_url(run_folder))
            except ObjectNotFoundError:
                break  # rank 0 has not got this far yet
            except StorageError:
                continue  # a damaged run folder is not ours
            if isinstance(descriptor, dict) and descriptor.get("id") == key:
                return run_folder
        if time.monotonic() > deadline:
            raise RunError(
                f"Rank {world().rank} waited {timeout:.0f} s for rank 0 to create the run (id "
                f"{key}) in {runs_url}. Check that rank 0 calls tercet.init with the same "
                f"project, run name and root, or set {KEY_VARIABLE} to one value on every rank."
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
