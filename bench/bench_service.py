"""Object Service over HTTP on a 1,000,000-row table, each number next to an in-process baseline.

Starts ``tercet service`` as a separate process (as users run it) on a loopback port and measures:

* the first 100 rows under one filter and a sort (baseline: the same DuckDB query in-process,
  over the Parquet file and over the table held in memory);
* the full ``x, y, z, label`` columns as Arrow IPC (baseline: pyarrow reading those columns and
  writing the same IPC stream);
* a histogram under a filter (baseline: NumPy on arrays in memory);
* 20 concurrent clients for 30 s asking for filtered pages (baseline: the same query run
  back to back in-process, as queries per second).

The index section (``--part index``) indexes a project of 1,000 runs (``--runs``) written as
``tercet.init()``/``write_metrics()`` leave them, on local disk and on S3 (moto's server on
loopback, in its own process), side by side: the first scan, a rescan with nothing new, and a
rescan after one more run; on S3 it also counts the HTTP requests each one sends (through the
fault proxy, in a second pass that is not timed).

Run: ``python bench/bench_service.py [--part http|index|all] [--rows N] [--seconds S]
[--clients C] [--runs R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from s3env import s3_bench

TOKEN = "bench-token-0123456789"  # the service asks for 16 characters or more
FILTER = {"column": "loss", "op": "range", "min": 0.2, "max": 0.6}
SORT = [{"column": "x", "desc": True}]
HIST_FILTER = {"column": "label", "op": "in", "values": [1, 2, 3]}
# (filter, offset) pairs the load clients cycle through: 10 filters x the first 10 pages.
LOAD_MIX: list[dict[str, Any]] = [
    {"filter": {**FILTER, "min": 0.1 + f / 50}, "offset": page * 100}
    for f in range(10)
    for page in range(10)
]
SQL_PAGE = 'SELECT * FROM {src} WHERE "loss" >= 0.2 AND "loss" <= 0.6 ORDER BY "x" DESC LIMIT 100'


def make_table(n: int, root: str) -> Any:
    import tercet

    rng = np.random.default_rng(0)
    labels = [f"class {i}" for i in range(10)]
    data = {
        "x": rng.standard_normal(n).astype(np.float32),
        "y": rng.standard_normal(n).astype(np.float32),
        "z": rng.standard_normal(n).astype(np.float32),
        "label": rng.integers(0, 10, n).astype(np.int32),
        "loss": rng.random(n).astype(np.float32),
    }
    return tercet.Table.create(
        data, project="bench", dataset="synthetic", name="points", root=root,
        value_maps={"label": labels},
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def start_service(root: str, port: int) -> subprocess.Popen[bytes]:
    cli = "from tercet.cli import main; main()"
    cmd = [sys.executable, "-c", cli, "service", "--root", root, "--port", str(port),
           "--token", TOKEN, "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the service did not start")


async def load(url: str, body: dict[str, Any], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` concurrent connections, each sending requests back to back."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(i: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        n = i
        while time.perf_counter() < stop:
            # Users scrolling the first pages of a few different filtered views.
            request = {**body, **LOAD_MIX[n % len(LOAD_MIX)]}
            n += clients
            start = time.perf_counter()
            try:
                response = await http.post("/api/rows", json=request)
                ok = response.status_code == 200 and len(response.content) > 0
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - start) * 1000)
            errors += 0 if ok else 1

    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "errors": errors,
            "p50": pct(latencies, 50), "p99": pct(latencies, 99)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["http", "index", "all"], default="all")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1_000, help="runs in the index section")
    args = parser.parse_args()
    ok = True
    if args.part in ("index", "all"):
        ok = index_section(args.runs) and ok
    if args.part in ("http", "all"):
        ok = http_section(args) and ok
    sys.exit(0 if ok else 1)


def http_section(args: Any) -> bool:
    """The HTTP measurements over one big table; False when a target is missed."""
    with tempfile.TemporaryDirectory(prefix="tercet-bench-") as tmp:
        os.environ["TERCET_CONFIG"] = str(Path(tmp) / "config.yaml")  # no user config leaks in
        root = str(Path(tmp) / "root")
        t0 = time.perf_counter()
        table = make_table(args.rows, root)
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
        parquet = os.path.join(table.url, table.descriptor["rows"][0])
        port = free_port()
        proc = start_service(root, port)
        url = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        source = {"table": table.url}
        try:
            results = run_all(http, source, parquet, args)
            print(f"load test: {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
            body = {"source": source, "sort": SORT, "limit": 100}
            loaded = asyncio.run(load(url, body, args.clients, args.seconds))
        finally:
            http.close()
            proc.terminate()
            proc.wait(20)
    return report(results, loaded, args)


def report(r: dict[str, Any], loaded: dict[str, Any], args: Any) -> bool:
    """Print the table; False when a target is missed."""

    def p(key: str, q: float = 50, digits: int = 1) -> str:
        return f"{pct(r[key], q):.{digits}f}"

    page_ok = pct(r["page"], 95) < 150
    full_ok = pct(r["full"], 95) < 500
    rows = [
        ("cold: first query (loads the table into the cache)", f"{r['cold']:.0f} ms",
         f"{r['read_baseline']:.0f} ms", "pyarrow.parquet.read_table", "", ""),
        ("filtered+sorted page, 100 rows (p50 / p95)", f"{p('page')} / {p('page', 95)} ms",
         f"{p('page_parquet_baseline')} / {p('page_arrow_baseline')} ms",
         "DuckDB in-process: on Parquet / in memory", "< 150 ms", page_ok),
        ("1M x (x,y,z,label) as Arrow IPC (p50 / p95)",
         f"{p('full', 50, 0)} / {p('full', 95, 0)} ms, {r['full_mb']:.1f} MB",
         f"{p('full_baseline', 50, 0)} / {p('full_mem_baseline', 50, 0)} ms",
         "pyarrow: read + IPC / IPC from memory", "< 500 ms", full_ok),
        ("histogram of loss under a filter, 40 bins (p50)", f"{p('hist')} ms",
         f"{p('hist_baseline')} ms", "NumPy on arrays in memory", "", ""),
        (f"{args.clients} clients x {args.seconds:.0f} s, filtered pages",
         f"{loaded['rps']:.0f} req/s, p50 {loaded['p50']:.0f} ms, p99 {loaded['p99']:.0f} ms",
         f"{r['mix_baseline_qps']:.0f} q/s", "same pages + counts, DuckDB in-process, 1 thread",
         "", ""),
        ("  errors under load", f"{loaded['errors']} of {loaded['requests']}", "", "", "0",
         loaded["errors"] == 0),
    ]  # fmt: skip
    header = ("measurement", "service over HTTP", "baseline", "baseline is", "target", "ok")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(6)]
    print(f"\nObject Service benchmark: {args.rows:,} rows, {os.cpu_count()} cores")
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    missed = [row[0] for row in rows if row[5] is False]
    if missed:
        print(f"\nMISSED TARGETS: {missed}")
    return not missed


def run_all(http: httpx.Client, source: dict[str, Any], parquet: str, args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    start = time.perf_counter()
    http.post("/api/schema", json={"source": source}).raise_for_status()
    results["cold"] = (time.perf_counter() - start) * 1000
    results["read_baseline"] = timed(lambda: pq.read_table(parquet), 1)[0]

    page_body = {"source": source, "filter": FILTER, "sort": SORT, "limit": 100}

    def page() -> None:
        response = http.post("/api/rows", json=page_body)
        response.raise_for_status()
        assert pa.ipc.open_stream(response.content).read_all().num_rows == 100

    timed(page, 3)  # warm up connections and DuckDB
    results["page"] = timed(page, args.repeat)
    con = duckdb.connect()
    in_memory = pq.read_table(parquet)
    con.register("mem", in_memory)
    parquet_sql = SQL_PAGE.format(src=f"read_parquet('{parquet}')")
    results["page_parquet_baseline"] = timed(
        lambda: con.execute(parquet_sql).fetchall(), args.repeat
    )
    results["page_arrow_baseline"] = timed(
        lambda: con.execute(SQL_PAGE.format(src="mem")).fetchall(), args.repeat
    )

    def mix() -> None:
        for item in LOAD_MIX:
            lo, offset = item["filter"]["min"], item["offset"]
            where = f'"loss" >= {lo} AND "loss" <= 0.6'
            con.execute(f'SELECT * FROM mem WHERE {where} ORDER BY "x" DESC LIMIT 100 '
                        f"OFFSET {offset}").fetchall()  # fmt: skip
            con.execute(f"SELECT count(*) FROM mem WHERE {where}").fetchall()

    results["mix_baseline_qps"] = len(LOAD_MIX) / (timed(mix, 1)[0] / 1000)

    cols = ["x", "y", "z", "label"]
    full_body = {"source": source, "columns": cols, "limit": 2_000_000}
    sizes = []

    def full() -> None:
        response = http.post("/api/rows", json=full_body)
        response.raise_for_status()
        sizes.append(len(response.content))
        assert pa.ipc.open_stream(response.content).read_all().num_rows == args.rows

    timed(full, 2)
    results["full"] = timed(full, max(5, args.repeat // 2))
    results["full_mb"] = sizes[-1] / 1e6

    def ipc(table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue())

    results["full_baseline"] = timed(
        lambda: ipc(pq.read_table(parquet, columns=["example_id", *cols])), 5
    )
    mem_cols = in_memory.select(["example_id", *cols])
    results["full_mem_baseline"] = timed(lambda: ipc(mem_cols), 5)

    hist_body = {"source": source, "filter": HIST_FILTER, "column": "loss", "bins": 40}

    def hist() -> None:
        http.post("/api/summary", json=hist_body).raise_for_status()

    timed(hist, 2)
    results["hist"] = timed(hist, args.repeat)
    label = in_memory.column("label").to_numpy()
    loss = in_memory.column("loss").to_numpy()
    results["hist_baseline"] = timed(
        lambda: np.histogram(loss[np.isin(label, [1, 2, 3])], bins=40), args.repeat
    )
    return results


# -- the index of a project with many runs: local disk and S3 side by side -----------------------
INDEX_TARGET_S3 = 30.0  # seconds for the first S3 index of 1,000 runs


def index_pass(root: str, runs: int) -> dict[str, float]:
    """First scan, rescans and a rescan after one new run, in seconds."""
    from tercet.service.index import Index
    from tercet.testing.fleet import write_fleet

    out: dict[str, float] = {}
    index = Index([root], on_events=lambda events: None)
    started = time.perf_counter()
    index.scan()
    out["first index"] = time.perf_counter() - started
    project = index.project("fleet")
    assert project is not None and len(project.runs) == runs, project
    assert all(r.error is None for r in project.runs.values())
    rescans = timed(index.scan, 3)
    out["rescan, nothing new"] = float(np.median(rescans)) / 1000
    write_fleet(root, 1, first=runs)
    started = time.perf_counter()
    events = index.scan()
    out["rescan after 1 new run"] = time.perf_counter() - started
    assert any(e.kind == "run" for e in events), events
    return out


def counted_pass(root: str, endpoint: str) -> dict[str, float]:
    """The same scans through a counting proxy: HTTP requests each sends (not timed)."""
    from tercet.service.index import Index
    from tercet.testing.faults import FaultProxy

    out: dict[str, float] = {}
    with FaultProxy(endpoint) as proxy:
        os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint_url
        try:
            index = Index([root], on_events=lambda events: None)
            index.scan()
            out["first index"] = len(proxy.requests)
            before = len(proxy.requests)
            index.scan()
            out["rescan, nothing new"] = len(proxy.requests) - before
        finally:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
    return out


def index_section(runs: int) -> bool:
    """Index ``runs`` runs on local disk and on S3; print both side by side."""
    import tercet.service.index  # noqa: F401  (imported before anything runs)
    from tercet.testing.fleet import write_fleet

    results: dict[str, dict[str, float]] = {}
    requests: dict[str, float] = {}
    with s3_bench("tercet-bench-index") as (tmp, server, bucket):
        for name, root in (("local", str(Path(tmp) / "root")), ("s3", f"{bucket}/root")):
            print(f"... writing {runs:,} runs on {name}", flush=True)
            started = time.perf_counter()
            write_fleet(root, runs)
            written = time.perf_counter() - started
            print(f"... indexing them on {name}", flush=True)
            results[name] = {f"write {runs:,} runs (8 threads)": written}
            results[name].update(index_pass(root, runs))
            if name == "s3":
                requests = counted_pass(root, server.endpoint_url)
    print(f"\nIndex of a project with {runs:,} runs, {os.cpu_count()} cores")
    header = f"{'':30s} {'local':>9s} {'S3 (moto)':>10s} {'S3/local':>9s} {'S3 requests':>12s}"
    print(header)
    print("-" * len(header))
    for key in results["local"]:
        a, b = results["local"][key], results["s3"][key]
        n = f"{requests[key]:,.0f}" if key in requests else ""
        print(f"{key:30s} {a:7.2f} s {b:8.2f} s {b / a:8.1f}x {n:>12s}")
    first = results["s3"]["first index"]
    ok = runs < 1000 or first < INDEX_TARGET_S3
    print(f"target: first S3 index of 1,000 runs < {INDEX_TARGET_S3:.0f} s: "
          f"{'ok' if ok else 'MISSED'}")  # fmt: skip
    return ok


if __name__ == "__main__":
    main()
