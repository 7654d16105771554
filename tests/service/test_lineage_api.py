"""The service lists ``derived_from`` and display names, so the dashboard can show lineage."""

from __future__ import annotations

import tercet
from tests.fixtures.service import RunningService


def test_revisions_list_derived_from_and_display_names(service: RunningService) -> None:
    source = tercet.Table.create(
        {"x": list(range(10))}, project="demo", dataset="d", name="All Rows"
    )
    parts = source.split({"train": 0.8, "val": 0.2})
    service.scan()
    listed = {t["url"]: t for t in service.client.get("/api/projects/demo/tables").json()}
    train = listed[parts["train"].url]
    assert train["derived_from"] == {
        "revision": source.url,
        "rule": {"op": "split", "by": "random", "fractions": {"train": 0.8, "val": 0.2},
                 "seed": 0, "part": "train"},
    }  # fmt: skip
    assert train["parent"] is None and train["is_latest"]
    assert listed[source.url]["display_name"] == "All Rows"
    assert listed[source.url]["derived_from"] is None and listed[source.url]["is_latest"]
