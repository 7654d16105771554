"""Indexing benchmark: what a first index of a project of runs costs on S3, in requests.

A fleet of ``BENCH_RUNS`` runs (default 1,000; object.json, running, parameters, input and
completed events, one metrics file, one scalars file each, as ``tercet.init()`` leaves them) is
written to moto's server, then indexed by the Object Service's :class:`~tercet.service.index.Index`
through a counting proxy (:class:`tercet.testing.faults.FaultProxy`). The baseline, measured in
the same run, is the same fleet written as before event names carried their kind
(``kinds=False``: every event file must be read). Target: at most 1.1 requests per run.

Run: ``python bench/bench_index.py`` (``BENCH_RUNS=10000`` for the 10,000-run figure;
``BENCH_INDEX_BASELINE=0`` skips the old layout).
"""

from __future__ import annotations

import os
import sys
import time

from s3env import s3_bench
from targets import Targets

RUNS = int(os.environ.get("BENCH_RUNS", 1_000))
BASELINE = os.environ.get("BENCH_INDEX_BASELINE", "1") == "1"  # 0: skip the old layout


def main() -> int:
    from tercet.service.index import Index
    from tercet.testing.faults import FaultProxy
    from tercet.testing.fleet import write_fleet

    targets = Targets(f"first index of {RUNS:,} runs on S3 (moto), requests through a proxy")
    with s3_bench("tercet-bench-index") as (_, server, bucket):
        counted: dict[bool, tuple[int, int, float]] = {}
        for kinds in (False, True) if BASELINE else (True,):
            root = f"{bucket}/{'named' if kinds else 'unnamed'}"
            print(f"... writing {RUNS:,} runs (kinds in names: {kinds})", flush=True)
            write_fleet(root, RUNS, kinds=kinds)
            with FaultProxy(server.endpoint_url) as proxy:
                os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint_url
                try:
                    index = Index([root], on_events=lambda events: None)
                    started = time.perf_counter()
                    index.scan()
                    seconds = time.perf_counter() - started
                    project = index.project("fleet")
                    assert project is not None and len(project.runs) == RUNS
                    assert all(r.status == "completed" for r in project.runs.values())
                    traffic = proxy.traffic()
                finally:
                    os.environ["AWS_ENDPOINT_URL"] = server.endpoint_url
            total = sum(t.requests for t in traffic.values())
            counted[kinds] = (total, sum(t.down for t in traffic.values()), seconds)
    new, new_bytes, new_s = counted[True]
    if not BASELINE:
        targets.at_most(f"first index of {RUNS:,} runs: requests", new, 1.1 * RUNS, unit="")
        targets.info("first index: seconds (moto, loopback)", new_s, unit="s")
        return targets.report()
    old, old_bytes, old_s = counted[False]
    targets.at_most(
        f"first index of {RUNS:,} runs: requests", new, 1.1 * RUNS, unit="",
        baseline=old, baseline_is="every event file read (names without kind)",
    )  # fmt: skip
    targets.info(f"first index: bytes down ({old_bytes / 1e6:.2f} MB before)", new_bytes / 1e6,
                 unit="MB")  # fmt: skip
    targets.ratio(
        f"first index of {RUNS:,} runs: seconds (moto, loopback)", new_s, old_s, at_most=1.0,
        baseline_is="every event file read",
    )  # fmt: skip
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
