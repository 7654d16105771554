"""Security and bad input: the token on every route, CORS, size limits, clean 4xx, no traces."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tercet import Table, config
from tercet.service import auth, create_app, query
from tercet.service.server import ThreadedServer
from tests.fixtures.service import RunningService, StartService, make_table, snapshot


@pytest.fixture
def table(root: Path) -> Table:
    return make_table(n=40)


def test_every_route_but_health_needs_the_token(service: RunningService) -> None:
    doc = service.client.get("/api/openapi.json").json()
    routes = [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops]
    assert len(routes) >= 15
    with service.anonymous() as anonymous:
        for method, path in [*routes, ("GET", "/api/openapi.json"), ("GET", "/nowhere")]:
            path = path.replace("{project}", "demo")
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                response = anonymous.request(method, path, headers=headers)
                expected = 200 if path == "/api/health" else 401
                assert response.status_code == expected, (method, path, headers)
                if expected == 401:
                    assert response.headers["www-authenticate"] == "Bearer"
                    assert "token" in response.json()["detail"].lower()


def test_token_forms(service: RunningService) -> None:
    with service.anonymous() as anonymous:
        lower = {"Authorization": f"bearer {service.token}"}
        assert anonymous.get("/api/projects", headers=lower).status_code == 200
        longer = {"Authorization": f"Bearer x{service.token}"}
        assert anonymous.get("/api/projects", headers=longer).status_code == 401
        unicode = anonymous.get(
            "/api/projects", headers={b"Authorization": "Bearer tökén".encode()}
        )
        assert unicode.status_code == 401
        invalid = anonymous.get("/api/projects", headers={"Authorization": "Bearer nope"})
        assert invalid.json()["detail"].startswith("Invalid token")
        in_url = anonymous.get("/api/projects", params={"token": service.token})
        assert in_url.status_code == 401 and "not accepted in the URL" in in_url.json()["detail"]


def test_token_file_is_private_and_reused(root: Path) -> None:
    cfg = config.load()
    first = create_app(cfg).state.ctx.token
    path = auth.token_path()
    assert path.parent == config.config_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 40
    os.chmod(path, 0o644)
    assert create_app(cfg).state.ctx.token == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg.service.token = "configured-token"
    assert create_app(cfg).state.ctx.token == "configured-token"


def test_default_host_is_loopback() -> None:
    assert config.load().service.host == "127.0.0.1"


def test_cors_only_for_the_dashboard_origin(service: RunningService) -> None:
    allowed = "http://127.0.0.1:8000"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with service.anonymous() as browser:
        ok = browser.options("/api/rows", headers={"Origin": allowed, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == allowed
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        evil = browser.options("/api/rows", headers={"Origin": "http://evil.test", **preflight})
        assert "access-control-allow-origin" not in evil.headers
        # A 401 still carries the header, so the dashboard can say "wrong token".
        unauthorized = browser.get("/api/projects", headers={"Origin": allowed})
        assert unauthorized.status_code == 401
        assert unauthorized.headers["access-control-allow-origin"] == allowed
    rows = service.client.post(
        "/api/count", json={"source": {"table": "/x"}}, headers={"Origin": allowed}
    )
    assert "x-total-count" in rows.headers.get("access-control-expose-headers", "").lower()


def test_request_body_size_is_limited(start_service: StartService, table: Table) -> None:
    service = start_service(max_request_bytes=2000)
    ids = list(range(1000))
    body = {
        "source": {"table": table.url},
        "filter": {"column": "example_id", "op": "in", "values": ids},
    }
    response = service.client.post("/api/count", json=body)
    assert response.status_code == 413 and "2,000 bytes" in response.json()["detail"]

    def chunks() -> Any:
        data = json.dumps(body).encode()
        for i in range(0, len(data), 500):
            yield data[i : i + 500]

    streamed = service.client.post(
        "/api/count", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    small = service.client.post("/api/count", json={"source": {"table": table.url}})
    assert small.status_code == 200


def test_unexpected_errors_are_a_generic_500_without_trace(
    service: RunningService, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals /home/alice/.ssh")

    monkeypatch.setattr(query, "rows", boom)
    response = service.client.post("/api/rows", json={"source": {"table": table.url}})
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("Internal error") and "service log" in detail
    assert "secret" not in response.text and "Traceback" not in response.text


def _rows(table: Table, **body: Any) -> dict[str, Any]:
    return {"source": {"table": table.url}, **body}


def _deep(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"column": "x", "op": "is_null"}
    for _ in range(depth):
        node = {"not": node}
    return node


Case = tuple[str, str, Any, int, str]


def bad_requests(table: Table) -> list[Case]:
    """(method, path, json body or query params, status, text the detail must contain)."""
    t = table.url

    def rows(status: int, text: str, **body: Any) -> Case:
        return ("POST", "/api/rows", _rows(table, **body), status, text)

    def where(column: str, op: str, text: str, **spec: Any) -> Case:
        return rows(422, text, filter={"column": column, "op": op, **spec})

    def get(text: str, **params: Any) -> Case:
        return ("GET", "/api/rows", {"source": json.dumps({"table": t}), **params}, 422, text)

    return [
        where("x", "between", "op"),
        rows(422, "filter", filter={"column": "x"}),
        rows(422, "column", filter={"op": "range", "min": 1}),
        where("x", "range", "mn", mn=1),
        rows(422, "filter", filter=[1, 2]),
        where("nope", "is_null", "'nope'"),
        rows(422, "'nope'", columns=["x", "nope"]),
        rows(422, "'nope'", sort=[{"column": "nope"}]),
        rows(422, "'emb'", sort=[{"column": "emb"}]),
        where("caption", "range", "numeric", min=1),
        where("x", "range", "min", min="a"),
        where("x", "range", "above", min=2, max=1),
        where("label", "contains", "text", value="a"),
        where("label", "in", "'label'", values=["cat"]),
        where("label", "in", "'label'", values=[*range(100), "x"]),
        where("label", "in", "64-bit", values=[2**70]),
        where("flag", "eq", "true or false", value=1),
        where("x", "eq", "number", value=True),
        where("emb", "eq", "is_null", value=1),
        where("x", "in", "number", values=[None]),
        rows(422, "too large", filter=_deep(40)),
        rows(422, "too large", filter={"or": [{"column": "x", "op": "is_null"}] * 2000}),
        rows(422, "limit", limit=2_000_001),
        rows(422, "limit", limit=-1),
        rows(422, "offset", offset=-5),
        rows(422, "limit", limit="many"),
        ("POST", "/api/rows", {"columns": ["x"]}, 422, "source"),
        ("POST", "/api/rows", {"source": {"tables": t}}, 422, "source"),
        ("POST", "/api/rows", {"source": {"table": "/etc"}}, 403, "outside"),
        ("POST", "/api/rows", {"source": {"table": t + "-nope"}}, 404, "No table"),
        ("POST", "/api/rows", {"source": {"run": t, "split": "train"}}, 404, "No run"),
        ("POST", "/api/rows", {"source": {"run": t, "split": "a", "epoch": -1}}, 422, "epoch"),
        ("GET", "/api/rows", {"source": "{not json"}, 422, "'source'"),
        get("'filter'", filter="{"),
        get("limit", limit=10**9),
        get("'nope'", columns="x,nope"),
        get("sort", sort='[{"column": 1}]'),
        ("POST", "/api/summary", {"source": {"table": t}, "column": "emb"}, 422, "embedding"),
        ("POST", "/api/summary", {"source": {"table": t}, "column": "x", "bins": 0}, 422, "bins"),
        ("POST", "/api/summary", {"source": {"table": t}, "column": "x", "min": 3, "max": 1},
         422, "above"),
        ("POST", "/api/confusion", {"run": t, "split": "train"}, 404, "No run"),
        ("POST", "/api/trajectory", {"run": t, "split": "a", "example_id": 1, "columns": []},
         422, "columns"),
        ("GET", "/api/scalars", {"run": "/etc"}, 403, "outside"),
        ("GET", "/api/object", {}, 422, "url"),
    ]  # fmt: skip


def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    service: RunningService, table: Table, root: Path
) -> None:
    before = snapshot(root)
    for method, path, payload, status, text in bad_requests(table):
        if method == "GET":
            response = service.client.get(path, params=payload)
        else:
            response = service.client.post(path, json=payload)
        assert response.status_code == status, (path, payload, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and text in detail, (payload, detail)
        assert "Traceback" not in detail
    raw = service.client.post(
        "/api/rows", content=b'{"source": [', headers={"Content-Type": "application/json"}
    )
    assert raw.status_code == 422 and "JSON" in raw.json()["detail"]
    deep = service.client.post(
        "/api/rows", content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert deep.status_code in (400, 422) and isinstance(deep.json()["detail"], str)
    assert snapshot(root) == before


def test_errors_have_a_string_detail_for_unknown_routes(service: RunningService) -> None:
    response = service.client.get("/api/nothing-here")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    wrong_method = service.client.delete("/api/projects")
    assert wrong_method.status_code == 405 and isinstance(wrong_method.json()["detail"], str)


def test_https_with_tls_files(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    app = create_app(config.load(), token="t" * 16)
    with ThreadedServer(app, tls_cert=str(cert), tls_key=str(key)) as server:
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(server.url + "/api/health", verify=context)
    assert response.status_code == 200
