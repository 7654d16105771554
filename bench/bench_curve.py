"""The scale curve: the same work at several table sizes, per-row cost and peak memory, plotted.

For each size in ``BENCH_SIZES`` (default ``100000,1000000``; add ``10000000`` where memory
allows, ~10 GiB) a child process of its own (so peak RSS is that size's) writes a table of
6 columns (example_id, label, score, two float64, a 16-d float32 embedding) with
``Table.create`` and with raw ``pyarrow.parquet.write_table``, reads it back both ways, reads a
revision with 10k scattered edits, and asks the Object Service (in process) for a filtered,
sorted page, a histogram and a density grid. The parent prints every figure with its baseline,
holds the targets of issue #16 (write ≤ 1.15x raw, edited read ≤ 1.2x raw read, per-row cost
from the smallest to the largest size ≤ 1.3x) and writes ``docs/scaling-curve.png``.

Run: ``python bench/bench_curve.py`` (``BENCH_CURVE_PLOT=path`` to write the plot elsewhere).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from targets import Targets

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "100000,1000000").split(",")]
REPEAT = int(os.environ.get("BENCH_REPEAT", 3))
PLOT = Path(os.environ.get("BENCH_CURVE_PLOT", Path(__file__).parent.parent / "docs" /
                           "scaling-curve.png"))  # fmt: skip


def best(fn: Callable[[], object], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def make_rows(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal(n * 16, dtype=np.float32)
    return pa.table({
        "example_id": np.arange(n, dtype=np.int64),
        "label": (np.arange(n) % 10).astype(np.int32),
        "score": rng.random(n, dtype=np.float32),
        "a": rng.random(n),
        "b": rng.random(n),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb), 16),
    })  # fmt: skip


def one(n: int) -> dict[str, float]:
    """Every figure at ``n`` rows (run in a child process)."""
    work = Path(tempfile.mkdtemp(prefix="tercet-curve-"))
    os.environ["TERCET_CONFIG"] = str(work / "config.yaml")
    os.environ["TERCET_ROOT"] = str(work / "root")
    import tercet

    data = make_rows(n)
    out: dict[str, float] = {"rows": n, "arrow_mb": data.nbytes / 2**20}
    raw = work / "raw.parquet"
    counter = iter(range(100))
    out["raw write"] = best(lambda: pq.write_table(data, raw, compression="zstd",
                                                   row_group_size=128 * 1024))  # fmt: skip
    out["write"] = best(lambda: tercet.Table.create(data, project="b", dataset="d",
                                                    name=f"t{next(counter)}"))  # fmt: skip
    source = tercet.Table.create(data, project="b", dataset="d", name="src")
    out["raw read"] = best(lambda: pq.read_table(raw))
    out["read"] = best(lambda: tercet.Table(source.url, source.descriptor).to_arrow())
    rng = np.random.default_rng(1)
    ids = np.sort(rng.choice(n, min(10_000, n // 10), replace=False))
    with source.edit(message="10k scattered edits") as e:
        e.set_values("label", ids, rng.integers(0, 10, len(ids)))
    edited = e.result
    out["edited read"] = best(lambda: tercet.Table(edited.url, edited.descriptor).to_arrow())

    from fastapi.testclient import TestClient

    from tercet import config
    from tercet.service import create_app

    client = TestClient(create_app(config.load(), token="t" * 32))
    client.headers["Authorization"] = "Bearer " + "t" * 32
    src = {"table": source.url}
    flt = {"column": "label", "op": "in", "values": [1, 3]}
    started = time.perf_counter()
    assert client.post("/api/count", json={"source": src}).status_code == 200
    out["service first query"] = time.perf_counter() - started

    def timed_p50(body: dict[str, Any], path: str) -> float:
        times = []
        for i in range(7):
            started = time.perf_counter()
            r = client.post(path, json={**body, "offset": i * 100} if path == "/api/rows"
                            else body)  # fmt: skip
            assert r.status_code == 200, r.text
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    page = {"source": src, "filter": flt, "limit": 100,
            "sort": [{"column": "score", "desc": True}]}  # fmt: skip
    out["service page"] = timed_p50(page, "/api/rows")
    out["service histogram"] = timed_p50({"source": src, "filter": flt, "column": "a"},
                                         "/api/summary")  # fmt: skip
    out["service density"] = timed_p50({"source": src, "filter": flt, "x": "a", "y": "b"},
                                       "/api/density")  # fmt: skip
    out["peak rss mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def plot(curve: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c["rows"] for c in curve]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("raw write", "write", "raw read", "read", "edited read"):
        left.plot(rows, [c[key] / c["rows"] * 1e9 for c in curve], marker="o", label=key)
    left.set(xscale="log", xlabel="rows", ylabel="ns per row", title="Per-row cost (flat is good)")
    left.legend(fontsize=8)
    right.plot(rows, [c["peak rss mb"] for c in curve], marker="o", label="peak RSS")
    right.plot(rows, [c["arrow_mb"] for c in curve], marker="o", label="Arrow size of the table")
    for key in ("service page", "service histogram", "service density"):
        right.plot(rows, [c[key] * 1000 for c in curve], marker="s", linestyle="--",
                   label=f"{key} (ms)")  # fmt: skip
    right.set(xscale="log", yscale="log", xlabel="rows", ylabel="MiB / ms",
              title="Memory and service latency")  # fmt: skip
    right.legend(fontsize=8)
    fig.suptitle(f"Tercet scale curve (2 cores, load average {os.getloadavg()[0]:.1f})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]))))  # the last line is what the parent reads
        return 0
    curve: list[dict[str, float]] = []
    for n in SIZES:
        print(f"... {n:,} rows", flush=True)
        done = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                              capture_output=True, text=True)  # fmt: skip
        curve.append(json.loads(done.stdout.strip().splitlines()[-1]))
    targets = Targets(f"scale curve at {', '.join(f'{n:,}' for n in SIZES)} rows")
    for c in curve:
        size = f"{int(c['rows']):,}"
        targets.ratio(f"{size}: write", c["write"], c["raw write"], 1.15,
                      baseline_is="pyarrow.parquet.write_table")  # fmt: skip
        targets.ratio(f"{size}: read", c["read"], c["raw read"], 1.3, baseline_is="raw read")
        targets.ratio(f"{size}: read with 10k edits", c["edited read"], c["raw read"], 1.2,
                      baseline_is="raw read, no edits")  # fmt: skip
        for key in ("service first query", "service page", "service histogram",
                    "service density"):  # fmt: skip
            targets.info(f"{size}: {key}", c[key] * 1000, unit="ms")
        targets.info(f"{size}: peak RSS / Arrow size", c["peak rss mb"] / c["arrow_mb"], unit="x")
    small, big = curve[0], curve[-1]
    for key in ("write", "read", "edited read"):
        per_small, per_big = small[key] / small["rows"], big[key] / big["rows"]
        name = f"per-row {key}, {int(big['rows']):,} vs {int(small['rows']):,}"
        targets.ratio(name, per_big, per_small, 1.3, baseline_is="per-row at the smallest size")
    plot(curve, PLOT)
    print(f"plot: {PLOT}")
    print(json.dumps(curve, indent=1))
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
