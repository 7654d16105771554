"""Every GET query parameter of the Object Service is bounded, and the bound holds on the wire:
one past it is a 422 that names the parameter; at it the request is not refused for its size.

The parameters come from the service's own OpenAPI document, so a route added later without a
bound fails here rather than in an outside probe.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tercet.service.openapi import document
from tests.fixtures.service import RunningService


def _query_parameters() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, operations in document()["paths"].items():
        for method, op in operations.items():
            for p in op.get("parameters", []):
                if method == "get" and p["in"] == "query":
                    schema = next((s for s in p["schema"].get("anyOf", [p["schema"]])
                                   if s.get("type") != "null"), p["schema"])  # fmt: skip
                    out.append((path, p["name"], schema))
    return out


PARAMETERS = _query_parameters()
IDS = [f"{path}?{name}" for path, name, _ in PARAMETERS]


def test_the_service_has_get_parameters_to_check() -> None:
    assert {"/api/file?url", "/api/file?thumb", "/api/rows?limit"} <= set(IDS)


@pytest.mark.parametrize(("path", "name", "schema"), PARAMETERS, ids=IDS)
def test_every_get_parameter_has_a_bound(path: str, name: str, schema: dict[str, Any]) -> None:
    if schema["type"] == "string":
        assert "maxLength" in schema, f"{path}?{name} takes strings of any length"
    elif schema["type"] == "integer":
        assert "maximum" in schema and "minimum" in schema, f"{path}?{name} is unbounded"
    else:
        pytest.fail(f"{path}?{name}: a {schema['type']} parameter this test does not know")


def _past_and_at(schema: dict[str, Any]) -> list[tuple[str, str]]:
    if schema["type"] == "string":
        n = schema["maxLength"]
        return [("past", "a" * (n + 1)), ("at", "a" * n)]
    return [
        ("past", str(schema["maximum"] + 1)),
        ("past", str(schema["minimum"] - 1)),
        ("at", str(schema["maximum"])),
        ("at", str(schema["minimum"])),
    ]


def _names_the_bound(body: Any, name: str) -> bool:
    detail = body.get("detail") if isinstance(body, dict) else None
    text = str(detail if detail is not None else body)
    return name in text and any(
        w in text for w in ("at most", "at least", "less than", "greater than", "characters")
    )


@pytest.mark.parametrize(("path", "name", "schema"), PARAMETERS, ids=IDS)
def test_one_past_the_bound_is_refused_and_the_bound_itself_is_not(
    service: RunningService, path: str, name: str, schema: dict[str, Any]
) -> None:
    for where, value in _past_and_at(schema):
        status, body = _get(service, path, {name: value})
        if where == "past":
            assert status == 422, (where, value[:20], str(body)[:300])
            assert _names_the_bound(body, name), body
        else:
            assert status < 500, str(body)[:300]
            assert not (status == 422 and _names_the_bound(body, name)), body


def _get(service: RunningService, path: str, params: dict[str, str]) -> tuple[int, Any]:
    """A raw GET: httpx refuses to send a query past 64 KiB, and an attacker's client does not."""
    parts = urlsplit(service.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(
            "GET", f"{path}?{urlencode(params)}",
            headers={"Authorization": f"Bearer {service.token}"},
        )  # fmt: skip
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()
