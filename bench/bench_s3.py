"""S3 benchmark: the same work on local disk and on S3 (moto's server on loopback), side by side.

1. A 1,000,000-row table (example_id, label, score, 64-d float32 embedding, path): written with
   ``Table.create``, read back whole and as two columns, and queried with DuckDB (filter, sort,
   limit 100) through ``storage.arrow_filesystem`` - for S3 both with pyarrow's native client
   (what Tercet uses) and with the fsspec-wrapped one, the measurement behind that choice.
2. A project holding 1,000 runs (object.json, three events, one metrics file each): listed with
   ``tercet.list_runs``, indexed by the Object Service (first scan, then a rescan), and, for
   comparison, read the way one recursive listing plus concurrent GETs would
   (``storage.walk_files`` + ``storage.read_many``).

3. What the store charges for (requests and bytes, counted by
   ``tercet.testing.faults.FaultProxy``) and the time of: a 2-of-6-column read against the whole
   table and against raw ``pyarrow.parquet.read_table(pre_buffer=True)`` on the same object, and a
   table write against a raw parallel multipart upload of the same bytes (pyarrow's S3 output
   stream). These carry targets; the script exits 1 when one is missed.
4. The Object Service's first filtered query on that table (a new service) against raw pyarrow
   plus DuckDB over the same object, and the same query in a second new service whose disk
   cache (``service.disk_cache_dir``) the first one filled.

moto serves from its own process, so client and server do not share a GIL. moto reads a whole
object for every ranged GET, which makes column-projected reads of big files on it slower than a
real store would. Run: ``python bench/bench_s3.py`` (``BENCH_ROWS``/``BENCH_RUNS`` scale it).
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
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

ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
RUNS = int(os.environ.get("BENCH_RUNS", 1_000))
REPEAT = int(os.environ.get("BENCH_REPEAT", 3))
QUERY = "SELECT example_id, score FROM d WHERE label = 3 ORDER BY score DESC LIMIT 100"


def timed(fn: Callable[[], Any], repeat: int = REPEAT) -> float:
    """Median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_rows(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((n, 64), dtype=np.float32)
    return pa.table(
        {
            "example_id": pa.array(np.arange(n, dtype=np.int64)),
            "label": pa.array(rng.integers(0, 10, n, dtype=np.int32)),
            "score": pa.array(rng.random(n, dtype=np.float32)),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), 64),
            "path": pa.array([f"<PROJECT_DATA>/img/{i:07d}.jpg" for i in range(n)]),
        }
    )


def table_bench(root: str, rows: pa.Table, compare_fsspec: bool = False) -> dict[str, float]:
    import duckdb
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    import tercet
    from tercet import storage

    out: dict[str, float] = {}
    counter = iter(range(1_000_000))

    def write() -> None:
        tercet.Table.create(
            rows, project="bench", dataset="d", name=f"t{next(counter)}", root=root,
            roles={"path": "image"}, value_maps={"label": [str(i) for i in range(10)]},
        )  # fmt: skip

    out["write table"] = timed(write, repeat=max(1, REPEAT - 1))
    url = storage.join(root, "bench", "datasets", "d", "tables", "t0")
    out["read whole table"] = timed(lambda: tercet.Table.open(url).to_arrow())
    out["read 2 columns"] = timed(lambda: tercet.Table.open(url).to_arrow(["example_id", "score"]))
    rows_url = storage.join(url, tercet.Table.open(url).descriptor["rows"][0])
    out["object size, MB"] = storage.file_info(rows_url)["size"] / 1e6

    def query(wrapped: bool) -> Callable[[], Any]:
        def run() -> Any:
            fs, path = storage.arrow_filesystem(rows_url)
            if wrapped:
                fs = pafs.PyFileSystem(pafs.FSSpecHandler(storage.filesystem(rows_url)[0]))
            con = duckdb.connect()
            con.register("d", ds.dataset(path, filesystem=fs, format="parquet"))
            return con.sql(QUERY).fetchall()

        return run

    def metadata(wrapped: bool) -> Callable[[], Any]:
        def run() -> Any:
            fs, path = storage.arrow_filesystem(rows_url)
            if wrapped:
                fs = pafs.PyFileSystem(pafs.FSSpecHandler(storage.filesystem(rows_url)[0]))
            with fs.open_input_file(path) as fh:
                return pq.read_metadata(fh)

        return run

    out["duckdb filter+sort+limit"] = timed(query(False))
    out["parquet footer read"] = timed(metadata(False))
    if compare_fsspec:
        out["duckdb query, fsspec-wrapped"] = timed(query(True))
        out["parquet footer, fsspec-wrapped"] = timed(metadata(True))
    return out


def six_columns(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "example_id": np.arange(n, dtype=np.int64),
            "label": rng.integers(0, 10, n, dtype=np.int32),
            "score": rng.random(n, dtype=np.float32),
            "a": rng.random(n),
            "b": rng.random(n),
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(rng.standard_normal(n * 16, dtype=np.float32)), 16
            ),
        }
    )


def cost_bench(server: Any, bucket: str, targets: Targets) -> None:
    """Section 3: requests, bytes and seconds of column reads and of a write, with targets."""
    import pyarrow.fs as pafs

    import tercet
    from tercet import storage
    from tercet.testing.faults import FaultProxy

    root = f"{bucket}/cost"
    rows = six_columns(ROWS)
    wanted = ["example_id", "score"]
    counter = iter(range(1_000_000))
    urls: list[str] = []

    def write() -> None:
        table = tercet.Table.create(rows, project="cost", dataset="d", name=f"t{next(counter)}",
                                    root=root)  # fmt: skip
        urls.append(storage.join(table.url, table.descriptor["rows"][0]))

    t_write = timed(write, repeat=max(1, REPEAT - 1))
    rows_url = urls[0]
    fs, path = storage.arrow_filesystem(rows_url)
    assert isinstance(fs, pafs.S3FileSystem), fs
    data = fs.open_input_file(path).readall()
    raw_key = f"{bucket[len('s3://') :]}/cost/raw-upload"

    def raw_upload() -> None:  # pyarrow's own parallel multipart upload (background_writes)
        with fs.open_output_stream(f"{raw_key}-{next(counter)}") as out:
            out.write(data)

    def our_upload() -> None:  # Tercet's upload alone (conditional, parallel parts)
        with storage.open_atomic(f"{bucket}/cost/our-upload-{next(counter)}") as out:
            out.write(data)

    def raw_table_write() -> None:  # pyarrow encoding straight into its own S3 output stream
        with fs.open_output_stream(f"{raw_key}-{next(counter)}") as out:
            pq.write_table(rows, out, compression="zstd", row_group_size=128 * 1024)

    def encode_only() -> None:  # Tercet's encoding: zstd, no dictionary for floats and ids
        plain = storage.dictionary_columns(rows.schema, ["example_id"])
        pq.write_table(rows, pa.BufferOutputStream(), compression="zstd",
                       row_group_size=128 * 1024, use_dictionary=plain)  # fmt: skip

    def encode_dict() -> None:  # what it was: a dictionary tried for every column
        pq.write_table(rows, pa.BufferOutputStream(), compression="zstd", row_group_size=128 * 1024)

    repeat = max(1, REPEAT - 1)
    t_raw_write = timed(raw_upload, repeat=repeat)
    size = f"{len(data) / 1e6:.0f} MB"
    targets.ratio(f"S3 write of a {ROWS:,}-row table ({size})", t_write, t_raw_write, 1.3,
                  baseline_is="raw multipart upload, same bytes")  # fmt: skip
    targets.ratio(f"S3 upload of its {size} (open_atomic)", timed(our_upload, repeat=repeat),
                  t_raw_write, 1.3, baseline_is="raw multipart upload, same bytes")  # fmt: skip
    targets.info("  its Parquet encoding alone (no I/O)", timed(encode_only, repeat=repeat),
                 baseline=timed(encode_dict, repeat=repeat),
                 baseline_is="zstd with a dictionary tried for every column")  # fmt: skip
    targets.info("  the same write", t_write, baseline=timed(raw_table_write, repeat=repeat),
                 baseline_is="pq.write_table into pyarrow's S3 stream")  # fmt: skip

    url = rows_url.rsplit("/rows/", 1)[0]
    service_bench(url, f"{bucket}/cost", targets)
    t_full = timed(lambda: tercet.Table.open(url).to_arrow())
    t_cols = timed(lambda: tercet.Table.open(url).to_arrow(wanted))
    t_raw = timed(lambda: pq.read_table(path, filesystem=fs, columns=wanted, pre_buffer=True))
    targets.info("S3 read, all 6 columns", t_full)
    targets.ratio("S3 read, 2 of 6 columns", t_cols, t_raw, 1.3,
                  baseline_is="pyarrow read_table(pre_buffer=True)")  # fmt: skip

    with FaultProxy(server.endpoint_url) as proxy:
        os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint_url
        try:
            counted: dict[str, Any] = {}

            def raw_read() -> Any:
                proxied, _ = storage.arrow_filesystem(rows_url)  # the proxy's endpoint
                return pq.read_table(path, filesystem=proxied, columns=wanted, pre_buffer=True)

            reads: dict[str, Callable[[], Any]] = {
                "full": lambda: storage.read_parquet(rows_url),
                "cols": lambda: storage.read_parquet(rows_url, columns=wanted),
                "raw": raw_read,
            }
            for name, fn in reads.items():
                proxy.reset_traffic()
                fn()
                counted[name] = proxy.traffic()["GET"]
        finally:
            os.environ["AWS_ENDPOINT_URL"] = server.endpoint_url
    full, cols, raw = counted["full"], counted["cols"], counted["raw"]
    mb = 1e6
    targets.at_most(
        "S3 read, 2 of 6 columns: bytes", cols.down / mb, 0.15 * full.down / mb, unit="MB",
        baseline=full.down / mb, baseline_is="all columns (target: 15%)",
    )  # fmt: skip
    targets.at_most(
        "S3 read, 2 of 6 columns: GETs", cols.requests, raw.requests, unit="",
        baseline=raw.requests, baseline_is="pyarrow read_table(pre_buffer=True)",
    )  # fmt: skip
    targets.info("S3 read, all 6 columns: GETs", full.requests, unit="")


def service_bench(url: str, root: str, targets: Targets) -> None:
    """The Object Service's first filtered query on a table on S3 (a new service, nothing
    cached), against raw pyarrow reading the same object plus DuckDB over the Arrow table; then
    the same query in another new service sharing the first one's disk cache."""
    import duckdb
    from fastapi.testclient import TestClient

    import tercet
    from tercet import config, storage
    from tercet.service import create_app

    token = "b" * 32
    rows_url = storage.join(url, tercet.Table.open(url).descriptor["rows"][0])
    fs, path = storage.arrow_filesystem(rows_url)
    body = {"source": {"table": url}, "filter": {"column": "label", "op": "in", "values": [3]},
            "sort": [{"column": "score", "desc": True}], "limit": 100}  # fmt: skip
    folders = iter(range(1000))
    tmp = Path(tempfile.mkdtemp(prefix="tercet-bench-objects-"))

    def service(folder: Path) -> Callable[[], Any]:
        cfg = config.load()
        cfg.root, cfg.service.disk_cache_dir = root, str(folder)
        client = TestClient(create_app(cfg, token=token))
        client.headers["Authorization"] = f"Bearer {token}"
        client.get("/api/health").raise_for_status()  # the app is up: only the query is timed
        return lambda: client.post("/api/rows", json=body).raise_for_status()

    def first_query(folder: Callable[[], Path]) -> float:
        """Median time of the first query of ``REPEAT`` new services."""
        times = []
        for _ in range(REPEAT):
            query = service(folder())
            gc.collect()
            started = time.perf_counter()
            query()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    def raw() -> Any:  # the fastest raw read on this stack (pre-buffered), then DuckDB on Arrow
        table = pq.read_table(path, filesystem=fs)
        con = duckdb.connect()
        con.register("d", table)
        return con.sql(QUERY).fetchall()

    try:
        t_raw = timed(raw)
        t_cold = first_query(lambda: tmp / f"c{next(folders)}")  # a new, empty cache each
        service(tmp / "shared")()  # fills the shared disk cache
        t_disk = first_query(lambda: tmp / "shared")  # new services, empty memory, disk filled
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    targets.ratio("service: first filtered query on S3", t_cold, t_raw, 1.3,
                  baseline_is="pyarrow S3 read + DuckDB on Arrow")  # fmt: skip
    targets.info("service: first query, new process, disk cache filled", t_disk, baseline=t_raw,
                 baseline_is="pyarrow S3 read + DuckDB on Arrow")  # fmt: skip


def runs_bench(root: str) -> dict[str, float]:
    import tercet
    from tercet.service.index import Index
    from tercet.testing.fleet import write_fleet

    out: dict[str, float] = {}
    started = time.perf_counter()
    write_fleet(root, RUNS)
    out[f"write {RUNS} runs (8 threads)"] = time.perf_counter() - started
    listed: list[Any] = []
    out[f"tercet.list_runs ({RUNS})"] = timed(
        lambda: listed.append(tercet.list_runs("fleet", root=root)), repeat=1
    )
    assert len(listed[0]) == RUNS, len(listed[0])

    def one_listing() -> None:  # what an index needs at most: one listing, parallel reads
        from tercet import storage

        files = storage.walk_files(storage.join(root, "fleet", "runs"))
        got = storage.read_many([f for f in files if f.endswith(".json")])
        assert len(got) == 5 * RUNS, len(got)  # object.json and four events a run

    out["1 listing + concurrent JSON reads"] = timed(one_listing, repeat=1)
    index = Index([root], on_events=lambda events: None)
    started = time.perf_counter()
    index.scan()
    out["service index: first scan"] = time.perf_counter() - started
    project = index.project("fleet")
    assert project is not None and len(project.runs) == RUNS, project
    out["service index: rescan"] = timed(index.scan)
    return out


def main() -> int:
    from tercet.testing.s3server import S3Server

    with tempfile.TemporaryDirectory(prefix="tercet-bench-s3-") as tmp:
        os.environ["TERCET_CONFIG"] = str(Path(tmp) / "config.yaml")
        os.environ.pop("TERCET_ROOT", None)
        server = S3Server(process=True).start()
        try:
            os.environ.update(server.env())
            bucket = server.create_bucket("tercet-bench")
            print(f"moto on {server.endpoint_url}; {ROWS:,} rows, {RUNS:,} runs, "
                  f"median of {REPEAT}", flush=True)  # fmt: skip
            targets = Targets(f"S3 cost targets, {ROWS:,} rows x 6 columns, median of {REPEAT}")
            print("... requests, bytes and seconds of S3 reads and writes", flush=True)
            cost_bench(server, bucket, targets)
            if os.environ.get("BENCH_S3_COST_ONLY") == "1":
                return targets.report()
            rows = make_rows(ROWS)
            results: dict[str, dict[str, float]] = {}
            for name, root in (("local", str(Path(tmp) / "root")), ("s3", f"{bucket}/root")):
                print(f"... table on {name}", flush=True)
                results[name] = table_bench(root, rows, compare_fsspec=name == "s3")
                print(f"... runs on {name}", flush=True)
                results[name].update(runs_bench(root))
        finally:
            server.stop()
    print()
    header = f"{'':34s} {'local':>10s} {'S3 (moto)':>10s} {'S3/local':>9s}"
    print(header)
    print("-" * len(header))
    keys = list(dict.fromkeys([*results["local"], *results["s3"]]))
    for key in keys:
        a, b = results["local"].get(key), results["s3"].get(key)
        unit = "" if "MB" in key else " s"
        fa = f"{a:9.2f}{unit}" if a is not None else f"{'-':>10s}"
        fb = f"{b:9.2f}{unit}" if b is not None else f"{'-':>10s}"
        ratio = f"{b / a:8.1f}x" if a and b else ""
        print(f"{key:34s} {fa:>10s} {fb:>10s} {ratio:>9s}")
    print()
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
