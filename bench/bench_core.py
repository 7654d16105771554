"""Core library benchmark: a 1,000,000-row table against raw pyarrow, measured in one run.

Columns: example_id, label (10 classes), score (float), embedding (64 x float32), path (string).
Prints write / read / edited-read times next to raw pyarrow, the bytes a 3-row edit writes, and
peak memory. Targets: write and read within 1.3x of raw pyarrow, edited read within 1.5x,
a 3-row edit under 4 KB.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from targets import Targets

N = int(os.environ.get("BENCH_ROWS", 1_000_000))
REPEAT = 3


def make_table(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, 64)).astype(np.float32)
    return pa.table(
        {
            "example_id": pa.array(np.arange(n, dtype=np.int64)),
            "label": pa.array((np.arange(n) % 10).astype(np.int32)),
            "score": pa.array(rng.random(n)),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), 64),
            "path": pa.array([f"<DATA>/images/{i:07d}.png" for i in range(n)]),
            "weight": pa.array(np.ones(n, dtype=np.float32)),
        }
    )


def best(fn: Callable[[], object], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="tercet-bench-"))
    os.environ["TERCET_CONFIG"] = str(work / "config.yaml")
    os.environ["TERCET_ROOT"] = str(work / "root")
    import tercet

    data = make_table(N)
    labels = {"label": [f"class {i}" for i in range(10)]}
    rows: list[tuple[str, str, str, str]] = []
    targets = Targets(f"core targets, {N:,} rows")

    counter = iter(range(1000))
    raw_path = work / "raw.parquet"

    def raw_write() -> None:
        raw_path.unlink(missing_ok=True)
        pq.write_table(data, raw_path, compression="zstd", row_group_size=128 * 1024)

    def tercet_write() -> None:
        tercet.Table.create(data, project="bench", dataset="d", name=f"t{next(counter)}",
                            value_maps=labels)  # fmt: skip

    t_raw_w = best(raw_write)
    t_ter_w = best(tercet_write)
    targets.ratio("write", t_ter_w, t_raw_w, 1.3, baseline_is="pyarrow.parquet.write_table")
    rows.append(("write 1M rows", f"{t_ter_w * 1000:.0f} ms", f"{t_raw_w * 1000:.0f} ms",
                 f"{t_ter_w / t_raw_w:.2f}x (target <= 1.3x)"))  # fmt: skip

    source = tercet.Table.create(data, project="bench", dataset="d", name="src", value_maps=labels)

    def tercet_read(t: tercet.Table) -> Callable[[], object]:
        return lambda: tercet.Table(t.url, t.descriptor).to_arrow()

    t_raw_r = best(lambda: pq.read_table(raw_path))
    t_ter_r = best(tercet_read(source))
    targets.ratio("read all", t_ter_r, t_raw_r, 1.3, baseline_is="pyarrow.parquet.read_table")
    rows.append(("read all", f"{t_ter_r * 1000:.0f} ms", f"{t_raw_r * 1000:.0f} ms",
                 f"{t_ter_r / t_raw_r:.2f}x (target <= 1.3x)"))  # fmt: skip

    rng = np.random.default_rng(1)
    ids = np.sort(rng.choice(N, 10_000, replace=False))
    with source.edit(message="10k scattered edits") as e:
        e.set_values("label", ids[:6000], rng.integers(0, 10, 6000))
        e.set_weights(ids[6000:8000], 0.0)
        e.delete_rows(ids[8000:])
    edited = e.result
    t_ter_e = best(tercet_read(edited))
    targets.ratio("read with 10k edits", t_ter_e, t_raw_r, 1.5, baseline_is="raw read, no edits")
    rows.append(("read with 10k edits", f"{t_ter_e * 1000:.0f} ms", f"{t_raw_r * 1000:.0f} ms",
                 f"{t_ter_e / t_raw_r:.2f}x (target <= 1.5x)"))  # fmt: skip

    before = folder_bytes(work / "root")
    small = source.set_values("label", [3, N // 3, N - 1], [1, 2, 3])
    written = folder_bytes(work / "root") - before
    targets.at_most("bytes of a 3-row edit", written, 4096, unit="B")
    rows.append(("bytes of a 3-row edit", f"{written} B", f"{folder_bytes(Path(source.url))} B "
                 "(full table)", "target < 4096 B"))  # fmt: skip
    assert small.num_rows == N

    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table_mb = data.nbytes / 2**20
    pool_peak = pa.default_memory_pool().max_memory() / 2**20
    rows.append(
        (
            "peak memory (RSS)",
            f"{peak_rss:.0f} MiB",
            f"{table_mb:.0f} MiB (table in Arrow)",
            f"arrow pool peak {pool_peak:.0f} MiB",
        )
    )

    from rich.console import Console
    from rich.table import Table

    out = Table(title=f"tercet core vs raw pyarrow, {N:,} rows, best of {REPEAT}")
    for col in ("measure", "tercet", "raw pyarrow", "ratio / target"):
        out.add_column(col)
    for r in rows:
        out.add_row(*r)
    Console().print(out)
    shutil.rmtree(work, ignore_errors=True)
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
