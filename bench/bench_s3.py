"""S3 benchmark: the same work on local disk and on S3 (moto's server on loopback), side by side.

1. A 1,000,000-row table (example_id, label, score, 64-d float32 embedding, path): written with
   ``Table.create``, read back whole and as two columns, and queried with DuckDB (filter, sort,
   limit 100) through ``storage.arrow_filesystem`` - for S3 both with pyarrow's native client
   (what Tercet uses) and with the fsspec-wrapped one, the measurement behind that choice.
2. A project holding 1,000 runs (object.json, three events, one metrics file each): listed with
   ``tercet.list_runs``, indexed by the Object Service (first scan, then a rescan), and, for
   comparison, read the way one recursive listing plus concurrent GETs would
   (``storage.walk_files`` + ``storage.read_many``).

moto serves from its own process, so client and server do not share a GIL. moto reads a whole
object for every ranged GET, which makes column-projected reads of big files on it slower than a
real store would. Run: ``python bench/bench_s3.py`` (``BENCH_ROWS``/``BENCH_RUNS`` scale it).
"""

from __future__ import annotations

import gc
import os
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
