"""What a first index of a project costs on S3, counted by a proxy in front of the test server:
one GET per finished run, a few per running one, and listings by the thousand keys: O(runs)
with a small constant, where reading every event file cost five GETs a run (``bench_index``
measures both at 1,000 and 10,000 runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tercet.service.index import Index
from tercet.testing.faults import FaultProxy
from tercet.testing.fleet import write_fleet
from tercet.testing.s3server import S3Server

pytestmark = pytest.mark.s3

RUNS = 24
RUNNING = 3


@pytest.fixture
def proxy(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint_url) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.endpoint_url)
        yield p


def test_first_index_costs_one_get_per_finished_run(s3_bucket: str, proxy: FaultProxy) -> None:
    root = f"{s3_bucket}/root"
    write_fleet(root, RUNS, running=RUNNING)
    proxy.reset_traffic()
    index = Index([root], on_events=lambda events: None)
    index.scan()
    traffic = proxy.traffic()
    project = index.project("fleet")
    assert project is not None and len(project.runs) == RUNS
    statuses = sorted(r.status for r in project.runs.values())
    # The fleet dates its runs in January 2026: the unfinished ones are long silent.
    assert statuses == ["completed"] * (RUNS - RUNNING) + ["stale"] * RUNNING
    assert all(r.error is None and r.parameters == {"i": int(r.name[4:]), "lr": 0.1}
               for r in project.runs.values())  # fmt: skip
    assert all(len(r.inputs) == 1 for r in project.runs.values())

    gets = traffic["GET"].requests
    # A few listings (root, project, datasets/, runs/) and the table's descriptor; then per
    # finished run its final event, per running run object.json and its three events.
    assert gets <= (RUNS - RUNNING) + 4 * RUNNING + 8, traffic
    assert traffic.keys() <= {"GET", "HEAD"}, traffic
