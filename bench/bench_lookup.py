"""Rows by example id: what the dashboard's hover card asks for, over a 1M-row run.

The hover card asks ``POST /api/rows`` for one row (image, label, prediction, confidence, loss)
of a run's metrics joined with its input table, filtered by ``example_id``. This times that
request warm (the source already cached) through the id index, against the same filter wrapped
in ``and`` — which the service answers with a DuckDB scan, as it answered every id filter before.

Run: ``python bench/bench_lookup.py [--repeat 30]``. Target: p50 < 50 ms, so
the hover card's image (one more small request) lands well inside 150 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench_dashboard import make_gallery_table, write_run
from bench_service import TOKEN, free_port, start_service

COLUMNS = ["example_id", "image", "label", "prediction", "confidence", "loss"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tercet-bench-") as tmp:
        os.environ["TERCET_CONFIG"] = str(Path(tmp) / "config.yaml")
        root = Path(tmp) / "root"
        table = make_gallery_table(root)
        run_url = write_run(root, table, "bench-gallery")
        port = free_port()
        proc = start_service(str(root), port)
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=120,
        )
        source = {"run": run_url, "split": "train", "epoch": 0}
        rng = np.random.default_rng(3)
        try:

            def one(i: int, wrap: bool) -> float:
                eq = {"column": "example_id", "op": "eq", "value": i}
                body = {"source": source, "columns": COLUMNS, "limit": 1}
                body["filter"] = {"and": [eq]} if wrap else eq
                start = time.perf_counter()
                r = http.post("/api/rows", json=body)
                r.raise_for_status()
                return (time.perf_counter() - start) * 1000

            cold = one(0, wrap=False)  # loads the source and builds the id index
            ids = rng.integers(0, 1_000_000, args.repeat).tolist()
            fast = [one(i, wrap=False) for i in ids]
            scan = [one(i, wrap=True) for i in ids[: max(3, args.repeat // 5)]]
        finally:
            http.close()
            proc.terminate()
            proc.wait(20)
    p50 = statistics.median(fast)
    p95 = sorted(fast)[int(0.95 * (len(fast) - 1))]
    print(f"first request (source load + id index): {cold:.0f} ms")
    print(f"row by id, id index  p50 {p50:.1f} ms  p95 {p95:.1f} ms  (n={len(fast)})")
    print(f"row by id, scan      p50 {statistics.median(scan):.1f} ms  (n={len(scan)})")
    ok = p50 < 50
    print("target p50 < 50 ms:", "ok" if ok else "SLOW")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
