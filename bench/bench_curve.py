"""The scale curve: the same work at several table sizes, per-row cost and peak memory, plotted.

For each size in ``BENCH_SIZES`` (default ``100000,1000000``; add ``10000000`` where memory
allows) a child process of its own writes a table of 6 columns (example_id, label, score, two
float64, a 16-d float32 embedding) with ``Table.create`` and with raw
``pyarrow.parquet.write_table``, reads it back both ways, reads two edited revisions (10k
scattered edits, and a tenth of the rows edited: 1M at 10M rows), and asks the Object Service
(in process) for its first answers on the cold table, then a filtered, sorted page, a histogram
and a density grid. Each figure is timed in wall seconds and in CPU seconds of the process (the
CPU ratio says more than the wall ratio on a loaded machine). Peak memory is measured per
read, each in a fresh process: the RSS high-water mark above the RSS before the read (the mark
reset and the memory pool emptied just before it, on Linux), against the Arrow size of what the
read returned.

The parent prints every figure with its baseline, holds the targets of issue #16 (write ≤ 1.15x
raw, edited reads ≤ 1.2x the raw read, per-row cost ≤ 1.3x from 1M (or the smallest size) to
the largest, peak memory ≤ 2x the Arrow size read, the service's cold first answer < 1 s, page
p50 < 50 ms, histogram p50 < 100 ms) and writes ``docs/scaling-curve.png``.

Run: ``python bench/bench_curve.py`` (``BENCH_CURVE_PLOT=path`` to write the plot elsewhere).
``--sizes 1000000,10000000`` overrides ``BENCH_SIZES``; ``--only service`` (or ``memory``,
``io``, comma-separated) measures only those parts: the table is still written once, untimed,
and the plot is written only when every part ran.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
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

from rss import RssPeak, current_rss, peak_rss, reset_peak
from targets import Targets

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "100000,1000000").split(",")]
REPEAT = int(os.environ.get("BENCH_REPEAT", 3))
PLOT = Path(os.environ.get("BENCH_CURVE_PLOT", Path(__file__).parent.parent / "docs" /
                           "scaling-curve.png"))  # fmt: skip
TIMED = ("raw write", "write", "raw read", "read", "edited read", "edited read, many")
PARTS = ("io", "memory", "service")
ONLY = os.environ.get("BENCH_CURVE_ONLY", ",".join(PARTS)).split(",")


def best(fn: Callable[[], object], repeat: int = REPEAT) -> tuple[float, float]:
    """The best wall time of ``repeat`` runs, and the CPU time of that run."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


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


def memory(kind: str, url: str) -> dict[str, float]:
    """Peak memory of one read in this (fresh) process: the high-water RSS above the RSS
    before it, and the Arrow size of what it returned."""
    import tercet

    table = tercet.Table.open(url) if kind != "raw" else None
    # One row group's worth first: thread pools and codec state are set up once per process,
    # and that fixed cost (~90 MB) is not the read's.
    warm = pa.BufferOutputStream()
    pq.write_table(make_rows(128 * 1024), warm, compression="zstd")
    pq.read_table(pa.BufferReader(warm.getvalue()))
    del warm
    # The warm-up's freed buffers go back to the system and the high-water mark is reset
    # (Linux: clear_refs 5): otherwise the read lands in pages the pool kept (a 1M-row read
    # "peaked" at 0.7x its result) or is charged for the warm-up's own peak.
    pa.default_memory_pool().release_unused()
    reset = reset_peak()
    before = current_rss()
    out = pq.read_table(url) if table is None else table.to_arrow()
    peak = peak_rss() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak mb": (peak - before) / 2**20, "arrow mb": out.nbytes / 2**20}


def _measure_memory(kind: str, url: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--memory", kind, url], check=True,
                          capture_output=True, text=True, env=os.environ.copy())  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def one(n: int) -> dict[str, float]:
    """Every figure at ``n`` rows (run in a child process)."""
    work = Path(tempfile.mkdtemp(prefix="tercet-curve-"))
    os.environ["TERCET_CONFIG"] = str(work / "config.yaml")
    os.environ["TERCET_ROOT"] = str(work / "root")
    import tercet

    repeat = REPEAT if n < 5_000_000 else min(REPEAT, 2)
    out: dict[str, float] = {"rows": n, "arrow_mb": make_rows(1000).nbytes / 1000 * n / 2**20}
    raw = work / "raw.parquet"

    def record(key: str, fn: Callable[[], object]) -> None:
        out[key], out[f"{key} cpu"] = best(fn, repeat)

    if "io" in ONLY:
        source = _writes(make_rows(n), work, record)
    else:
        data = make_rows(n)
        pq.write_table(data, raw, compression="zstd", row_group_size=128 * 1024)
        source = tercet.Table.create(data, project="b", dataset="d", name="src")
        del data
    if "io" in ONLY:
        record("raw read", lambda: pq.read_table(raw))
        record("read", lambda: tercet.Table(source.url, source.descriptor).to_arrow())
    rng = np.random.default_rng(1)
    edited: dict[str, tercet.Table] = {}
    for key, k in (("edited read", min(10_000, n // 10)), ("edited read, many", n // 10)):
        if not {"io", "memory"} & set(ONLY):
            break
        ids = np.sort(rng.choice(n, k, replace=False))
        with source.edit(message=f"{k} scattered edits") as e:
            e.set_values("label", ids, rng.integers(0, 10, len(ids)))
        edited[key] = rev = e.result
        out[f"{key} edits"] = k
        if "io" in ONLY:
            record(key, functools.partial(_read_revision, rev))
    for key, kind, url in (("raw read", "raw", str(raw)), ("read", "table", source.url),
                           *((k, "table", r.url) for k, r in edited.items())):  # fmt: skip
        if "memory" not in ONLY:
            break
        mem = _measure_memory(kind, url)
        out[f"{key} peak mb"], out[f"{key} result mb"] = mem["peak mb"], mem["arrow mb"]
    if "service" in ONLY:
        out.update(_service(source))
    out["peak rss mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(work, ignore_errors=True)  # 3.5 GB at 10M rows
    return out


def _read_revision(rev: Any) -> object:
    import tercet

    return tercet.Table(rev.url, rev.descriptor).to_arrow()


def _writes(data: pa.Table, work: Path, record: Callable[[str, Callable[[], object]], None]) -> Any:
    """Time the raw and the Tercet write of ``data``; the table written once more to read."""
    import tercet

    counter = iter(range(100))
    record("raw write", lambda: pq.write_table(data, work / "raw.parquet", compression="zstd",
                                               row_group_size=128 * 1024))  # fmt: skip
    record("write", lambda: tercet.Table.create(data, project="b", dataset="d",
                                                name=f"t{next(counter)}"))  # fmt: skip
    return tercet.Table.create(data, project="b", dataset="d", name="src")


def _service(source: Any) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from tercet import config
    from tercet.service import create_app

    out: dict[str, float] = {}
    budget = int(os.environ["BENCH_CACHE_BYTES"]) if os.environ.get("BENCH_CACHE_BYTES") else None
    rss = RssPeak()  # the service's own high-water mark, above what writing the table left
    app = create_app(config.load(), token="t" * 32, cache_bytes=budget)
    # One client for the run, as a browser keeps its connection: a TestClient used outside
    # `with` starts an event-loop thread per request (~5-20 ms under load, not the service's).
    client = TestClient(app).__enter__()
    client.headers["Authorization"] = "Bearer " + "t" * 32
    client.get("/api/health")  # the app's start-up is not the first query's
    src = {"table": source.url}
    flt = {"column": "label", "op": "in", "values": [1, 3]}
    for key, path, body in (
        ("service first query", "/api/schema", {"source": src}),
        ("service first filtered count", "/api/count", {"source": src, "filter": flt}),
    ):
        started = time.perf_counter()
        r = client.post(path, json=body)
        assert r.status_code == 200, r.text
        out[key] = time.perf_counter() - started
    started = time.perf_counter()
    app.state.ctx.sources.table(source.url)  # joins the background load the cold query started
    out["service load"] = time.perf_counter() - started

    answers: list[Any] = []

    def timed_p50(body: dict[str, Any], path: str, key: str, vary: str = "") -> None:
        """The p50 of 7 asks (pages at successive offsets, or histograms of 20..26 bins), and
        the first ask on its own: it also scans for what later asks reuse (a filter's count, a
        histogram's extent, a sorted view's first rows)."""
        times = []
        for i in range(7):
            started = time.perf_counter()
            ask = {"offset": {"offset": i * 100}, "bins": {"bins": 20 + i}}.get(vary, {})
            r = client.post(path, json={**body, **ask})
            assert r.status_code == 200, r.text
            times.append(time.perf_counter() - started)
            if path == "/api/density":
                continue  # its cells come in any order
            answers.append(r.content if path != "/api/rows" else
                           pa.ipc.open_stream(r.content).read_all().column("example_id")
                           .to_pylist())  # fmt: skip
        out[key], out[f"{key} first"] = statistics.median(times), times[0]

    page = {"source": src, "filter": flt, "limit": 100,
            "sort": [{"column": "score", "desc": True}]}  # fmt: skip
    timed_p50(page, "/api/rows", "service page", vary="offset")
    timed_p50({"source": src, "filter": flt, "column": "a"}, "/api/summary",
              "service histogram", vary="bins")  # fmt: skip
    # The same histogram asked again (a reload, a second client): its answer is kept.
    timed_p50({"source": src, "filter": flt, "column": "a", "bins": 26}, "/api/summary",
              "service histogram again")  # fmt: skip
    timed_p50({"source": src, "filter": flt, "x": "a", "y": "b"}, "/api/density",
              "service density")  # fmt: skip
    out["service cache mb"] = app.state.ctx.sources.cache.bytes / 2**20
    out["service budget mb"] = app.state.ctx.sources.cache.max_bytes / 2**20
    out["service peak rss mb"] = rss.stop()
    out["service rss growth mb"] = rss.peak - rss.start
    import hashlib

    # Equal digests in two runs (memory and disk mode) mean equal pages and histograms.
    digest = hashlib.sha256(json.dumps([a if isinstance(a, list) else a.decode()
                                        for a in answers]).encode())  # fmt: skip
    out["service answers digest"] = int(digest.hexdigest()[:12], 16)
    client.__exit__(None, None, None)
    return out


def plot(curve: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c["rows"] for c in curve]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    for key in TIMED:
        left.plot(rows, [c[f"{key} cpu"] / c["rows"] * 1e9 for c in curve], marker="o", label=key)
    left.set(xscale="log", xlabel="rows", ylabel="CPU ns per row",
             title="Per-row CPU cost (flat is good)")  # fmt: skip
    left.legend(fontsize=8)
    for key in ("raw read", "read", "edited read", "edited read, many"):
        middle.plot(rows, [c[f"{key} peak mb"] / c[f"{key} result mb"] for c in curve],
                    marker="o", label=key)  # fmt: skip
    middle.axhline(2.0, color="grey", linestyle=":", label="target (2x)")
    middle.set(xscale="log", xlabel="rows", ylabel="peak memory / Arrow size read",
               title="Peak memory of a read")  # fmt: skip
    middle.legend(fontsize=8)
    for key in ("service first query", "service first filtered count", "service page",
                "service histogram", "service density"):  # fmt: skip
        right.plot(rows, [c[key] * 1000 for c in curve], marker="s", label=key)
    right.set(xscale="log", yscale="log", xlabel="rows", ylabel="ms",
              title="Object Service latency (p50; first answers cold)")  # fmt: skip
    right.legend(fontsize=8)
    fig.suptitle(f"Tercet scale curve (2 cores, load average {os.getloadavg()[0]:.1f})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        print(json.dumps(memory(sys.argv[2], sys.argv[3])))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]))))  # the last line is what the parent reads
        return 0
    parser = argparse.ArgumentParser(description="The scale curve of issue #16.")
    parser.add_argument("--sizes", help="comma-separated row counts (default: BENCH_SIZES)")
    parser.add_argument("--only", help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--cache-bytes", type=int,
                        help="the service's memory budget (service.cache_bytes); a table "
                             "bigger than it is served from disk")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else SIZES
    only = args.only.split(",") if args.only else list(PARTS)
    if unknown := set(only) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    env = {**os.environ, "BENCH_CURVE_ONLY": ",".join(only)}
    if args.cache_bytes:
        env["BENCH_CACHE_BYTES"] = str(args.cache_bytes)
    curve: list[dict[str, float]] = []
    loads = [os.getloadavg()[0]]
    for n in sizes:
        print(f"... {n:,} rows", flush=True)
        done = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                              capture_output=True, text=True, env=env)  # fmt: skip
        curve.append(json.loads(done.stdout.strip().splitlines()[-1]))
        loads.append(os.getloadavg()[0])
    title = f"scale curve at {', '.join(f'{n:,}' for n in sizes)} rows ({', '.join(only)})"
    targets = Targets(f"{title} (load average {min(loads):.1f}-{max(loads):.1f})")
    for c in curve:
        size = f"{int(c['rows']):,}"
        if "io" in only:
            _io_targets(targets, size, c)
        if "memory" in only:
            _memory_targets(targets, size, c)
        if "service" in only:
            _service_targets(targets, size, c)
        targets.info(f"{size}: peak RSS of the whole run", c["peak rss mb"], unit="MiB",
                     baseline=c["arrow_mb"], baseline_is="Arrow size of the table")  # fmt: skip
    if "io" in only:
        _per_row_targets(targets, curve)
    if only == list(PARTS):
        plot(curve, PLOT)
        print(f"plot: {PLOT}")
    print(json.dumps(curve, indent=1))
    return targets.report()


def _io_targets(targets: Targets, size: str, c: dict[str, float]) -> None:
    for cpu, unit in (("", "s"), (" cpu", "s CPU")):
        targets.ratio(f"{size}: write{cpu}", c[f"write{cpu}"], c[f"raw write{cpu}"], 1.15,
                      unit=unit, baseline_is="pyarrow.parquet.write_table")  # fmt: skip
        targets.ratio(f"{size}: read{cpu}", c[f"read{cpu}"], c[f"raw read{cpu}"], 1.3,
                      unit=unit, baseline_is="pyarrow.parquet.read_table")  # fmt: skip
        for key in ("edited read", "edited read, many"):
            targets.ratio(f"{size}: read with {int(c[f'{key} edits']):,} edits{cpu}",
                          c[f"{key}{cpu}"], c[f"raw read{cpu}"], 1.2, unit=unit,
                          baseline_is="raw read, no edits")  # fmt: skip


def _memory_targets(targets: Targets, size: str, c: dict[str, float]) -> None:
    for key in ("raw read", "read", "edited read", "edited read, many"):
        name = f"{size}: peak memory of {key} / Arrow size"
        ratio = c[f"{key} peak mb"] / c[f"{key} result mb"]
        if key == "raw read" or c[f"{key} result mb"] < 512:
            # Below ~0.5 GiB the process's fixed costs (allocator arenas, thread stacks)
            # outweigh the data: printed, held only at sizes where the ratio means something.
            targets.info(
                name, ratio, unit="x", baseline_is="pyarrow's own" if key == "raw read" else ""
            )
        else:
            targets.at_most(name, ratio, 2.0, unit="x")


def _service_targets(targets: Targets, size: str, c: dict[str, float]) -> None:
    targets.at_most(f"{size}: service first query (schema, cold)",
                    c["service first query"] * 1000, 1000, unit="ms")  # fmt: skip
    targets.at_most(f"{size}: service first filtered count (cold)",
                    c["service first filtered count"] * 1000, 1000, unit="ms")  # fmt: skip
    targets.info(f"{size}: service load of the rows", c["service load"] * 1000, unit="ms")
    targets.at_most(f"{size}: service page p50", c["service page"] * 1000, 50, unit="ms")
    targets.info(f"{size}: service first page (and the filter's count)",
                 c["service page first"] * 1000, unit="ms")  # fmt: skip
    targets.at_most(f"{size}: service histogram p50", c["service histogram"] * 1000, 100,
                    unit="ms")  # fmt: skip
    targets.info(f"{size}: service first histogram (and its extent)",
                 c["service histogram first"] * 1000, unit="ms")  # fmt: skip
    targets.info(f"{size}: service density p50", c["service density"] * 1000, unit="ms")
    targets.info(f"{size}: service histogram asked again p50", c["service histogram again"] * 1000,
                 unit="ms")  # fmt: skip
    targets.info(f"{size}: service cache", c["service cache mb"], unit="MiB",
                 baseline=c["service budget mb"], baseline_is="service.cache_bytes")  # fmt: skip
    targets.info(f"{size}: service peak RSS (its own high-water mark)",
                 c["service peak rss mb"], unit="MiB", baseline=c["arrow_mb"],
                 baseline_is="Arrow size of the table")  # fmt: skip
    targets.info(f"{size}: service RSS growth (peak above its start)",
                 c["service rss growth mb"], unit="MiB", baseline=c["arrow_mb"],
                 baseline_is="Arrow size of the table")  # fmt: skip
    targets.info(f"{size}: service answers digest", c["service answers digest"],
                 unit="(equal in memory and disk mode)")  # fmt: skip


def _per_row_targets(targets: Targets, curve: list[dict[str, float]]) -> None:
    big = curve[-1]
    small = next((c for c in curve if c["rows"] == 1_000_000 and c is not big), curve[0])
    for key in TIMED:
        for cpu in ("", " cpu"):
            per_small = small[f"{key}{cpu}"] / small["rows"]
            per_big = big[f"{key}{cpu}"] / big["rows"]
            name = f"per-row {key}{cpu}, {int(big['rows']):,} vs {int(small['rows']):,}"
            targets.ratio(name, per_big, per_small, 1.3, unit="s/row",
                          baseline_is=f"per-row at {int(small['rows']):,}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
