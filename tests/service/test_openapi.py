"""The OpenAPI document: served, committed, in sync; and a bounded fuzz run with no 5xx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tercet import Table
from tercet.service import openapi
from tests.fixtures.service import RunningService, make_table, snapshot, write_metrics, write_run

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "python -m tercet.service.openapi docs/openapi.json"


def test_served_document_matches_the_committed_one(service: RunningService) -> None:
    served = service.client.get("/api/openapi.json").json()
    committed = json.loads(DOC.read_text(encoding="utf-8"))
    assert served == committed, f"docs/openapi.json is out of date: run `{REGENERATE}`"
    assert openapi.render(served) == DOC.read_text(encoding="utf-8"), f"run `{REGENERATE}`"


def test_document_declares_the_token_and_every_route(service: RunningService) -> None:
    doc = service.client.get("/api/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyQuery"]["name"] == "grant"
    expected = {
        "/api/health",
        "/api/projects",
        "/api/projects/{project}/tables",
        "/api/projects/{project}/runs",
        "/api/object",
        "/api/schema",
        "/api/rows",
        "/api/count",
        "/api/summary",
        "/api/density",
        "/api/confusion",
        "/api/revisions/changes",
        "/api/trajectory",
        "/api/scalars",
        "/api/file",
        "/api/file/grant",
        "/api/revisions",
        "/api/events",
        "/api/insights/summary",
        "/api/similar",
        "/api/similar/image",
    }
    assert set(doc["paths"]) == expected
    assert "security" not in doc["paths"]["/api/health"]["get"]
    assert doc["paths"]["/api/rows"]["post"]["security"]


@pytest.fixture
def fuzz_data(root: Path) -> Table:
    table = make_table(n=30)
    table.set_values("label", [1], [2])
    run = write_run(root, "demo", "fuzz", inputs={"train": table.url})
    write_metrics(run, "train", 0, table.url, table.id, {"example_id": list(range(30))})
    return table


MAX_EXAMPLES = 10  # per operation and mode: ~15-30 s here, depending on the machine's load


def test_fuzzing_the_document_finds_no_server_errors(
    service: RunningService, fuzz_data: Table, root: Path
) -> None:
    schema = schemathesis.openapi.from_path(str(DOC))
    headers = {"Authorization": f"Bearer {service.token}"}
    failures: list[str] = []
    before = snapshot(root)
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises here, as it should
        if operation.path == "/api/events":
            continue  # an endless stream; covered by test_service_events
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                response = case.call(base_url=service.url, headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} {case.body!r:.200} "
                        f"{case.query!r:.200} -> {response.status_code} "
                        f"{response.text[:200]}"
                    )
                elif response.status_code >= 400:
                    assert isinstance(response.json()["detail"], str)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong (no parameters)
    assert not failures, "\n".join(failures[:10])
    changed = set(snapshot(root)) - set(before)
    # Only random but valid edits may have written revisions; nothing else changed.
    assert all("/tables/train." in "/" + path for path in changed), changed
