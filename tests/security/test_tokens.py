"""Tokens, grants, origins and the banners of `tercet service` / `tercet ui` (issue #11).

Each test reproduces one hole the outside probe found; the browser half (a link to another
service, tokens in URLs, the CSP, both services on 127.0.0.2) is tests/browser/test_token_origin.py.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from tercet import config
from tercet.errors import ConfigError
from tercet.service import create_app
from tercet.service.dashboard import create_dashboard_app
from tercet.service.server import ThreadedServer
from tests.fixtures.service import RunningService, StartService, make_table, snapshot
from tests.service.test_cli import Process, free_port, processes, wait_healthy

__all__ = ["processes"]  # the fixture, imported to be used here

TOKEN = "a-token-of-thirty-two-characters"
IMAGE = "<PROJECT_DATA>/img_1.png"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    make_table(n=10, images=folder)
    return folder


@pytest.fixture
def service(start_service: StartService, images: Path) -> RunningService:
    config.save_file_values({"aliases": {"PROJECT_DATA": str(images)}})
    return start_service(token=TOKEN)


def _get(service: RunningService, path: str, query: str = "", **headers: str) -> httpx.Response:
    """A GET with the query string exactly as written (nothing re-encoded)."""
    with service.anonymous() as client:
        return client.get(f"{path}?{query}" if query else path, headers=headers)


# -- 2 and 4: the token only in the header; grants for <img>; names matched as sent ----------------
@pytest.mark.parametrize(
    "name", ["token", "TOKEN", "tok%65n", "%74oken", "access_token", "api_key", "tok%2565n"]
)
def test_the_token_in_any_query_parameter_is_refused(service: RunningService, name: str) -> None:
    # Before: ?token=<token> authenticated, and so did tok%65n= (parse_qsl decodes names).
    response = _get(service, "/api/projects", f"{name}={TOKEN}")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert TOKEN not in response.text


def test_the_header_is_the_way_in(service: RunningService) -> None:
    assert _get(service, "/api/projects", Authorization=f"Bearer {TOKEN}").status_code == 200
    assert _get(service, "/api/projects", Authorization=f"bearer  {TOKEN}").status_code == 200
    for wrong in (
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        "Bearer",
        f"Basic {TOKEN}",
    ):
        assert _get(service, "/api/projects", Authorization=wrong).status_code == 401, wrong


def test_a_grant_opens_file_reads_and_nothing_else(service: RunningService) -> None:
    issued = service.client.post("/api/file/grant").json()
    grant = issued["grant"]
    assert TOKEN not in grant and issued["ttl"] <= 900
    assert issued["expires"] > time.time()
    image = f"url={IMAGE}"
    assert _get(service, "/api/file", f"{image}&grant={grant}").status_code == 200
    assert _get(service, "/api/file", f"{image}&thumb=32&grant={grant}").status_code == 200
    refused = {
        "another route": _get(service, "/api/projects", f"grant={grant}"),
        "the name percent-encoded": _get(service, "/api/file", f"{image}&gr%61nt={grant}"),
        "the name in capitals": _get(service, "/api/file", f"{image}&GRANT={grant}"),
        "two grants": _get(service, "/api/file", f"{image}&grant={grant}&grant={grant}"),
        "a forged signature": _get(service, "/api/file", f"{image}&grant={grant[:-2]}AA"),
        "a later expiry": _get(
            service, "/api/file", f"{image}&grant=g1.{issued['expires'] + 60}.{grant[-43:]}"
        ),
        "garbage": _get(service, "/api/file", f"{image}&grant=%00%ff..x"),
    }
    for what, response in refused.items():
        assert response.status_code == 401, what
    with service.anonymous() as anonymous:
        post = anonymous.post(f"/api/file/grant?grant={grant}")
        assert post.status_code == 401  # a grant cannot renew itself


def test_expired_grants_and_grants_of_another_token_are_refused(service: RunningService) -> None:
    from tercet.service.grants import Grants

    an_hour_ago = Grants(TOKEN, clock=lambda: time.time() - 3600).issue()[0]
    other_token = Grants("another-token-of-32-characters!!").issue()[0]
    expired = _get(service, "/api/file", f"url={IMAGE}&grant={an_hour_ago}")
    assert expired.status_code == 401 and "Expired grant" in expired.json()["detail"]
    forged = _get(service, "/api/file", f"url={IMAGE}&grant={other_token}")
    assert forged.status_code == 401 and "Invalid grant" in forged.json()["detail"]


def test_a_401_reveals_no_path(service: RunningService) -> None:
    for response in (
        _get(service, "/api/projects"),
        _get(service, "/api/projects", Authorization="Bearer wrong"),
        _get(service, "/api/projects", f"token={TOKEN}"),
    ):
        detail = response.json()["detail"]
        assert str(config.config_dir()) not in detail and "/" not in detail.replace(
            "/api/file", ""
        ), detail


# -- 4: blank, short and non-ASCII tokens refuse to start ------------------------------------------
@pytest.mark.parametrize("value", ["", "   ", "\t\n", "short", "x" * 15])
def test_a_blank_or_short_token_in_the_environment_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Before: TERCET_SERVICE_TOKEN="   " started a service that let in "Authorization: Bearer".
    monkeypatch.setenv("TERCET_SERVICE_TOKEN", value)
    with pytest.raises(ConfigError, match="environment variable TERCET_SERVICE_TOKEN"):
        create_app(config.load())


@pytest.mark.parametrize("value", ["", "   ", "abc", "sixteen chars ok", "tökén-tökén-tökén"])
def test_a_bad_token_anywhere_else_refuses_to_start(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="create_app"):
        create_app(config.load(), token=value)
    config.save_file_values({"service.token": value})
    with pytest.raises(ConfigError, match="config file"):
        create_app(config.load())


def test_the_cli_refuses_a_blank_token_and_does_not_listen(
    tmp_path: Path, processes: list[Process]
) -> None:
    port = free_port()
    blank = tmp_path / "blank"
    blank.write_text("  \n")
    for args in (["--token", " "], ["--token-file", str(blank)]):
        proc = Process("service", "--port", str(port), *args)
        processes.append(proc)
        assert proc.proc.wait(30) == 1
        output = proc.drain()
        assert "error:" in output and "is empty" in output and "Traceback" not in output
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


# -- 4: credentials never reach the access log or an error message ---------------------------------
CREDENTIAL_QUERIES = [
    "token=SECRET1", "ToKeN=SECRET2", "tok%65n=SECRET3", "access_token=SECRET4", "sig=SECRET5",
    "X-Api-Key=SECRET6", "password=SECRET7", "grant=SECRET8", "%74oken=SECRET9",
    "url=https%3A%2F%2Fh%2Fx%3Faccess_token%3DSECRETA", "Signature=SECRETB",
]  # fmt: skip


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_redacts_every_credential_parameter() -> None:
    # Before: only a parameter spelled exactly "token" was hidden.
    server = ThreadedServer(
        create_app(config.load(), token=TOKEN), log_level="info", access_log=True
    )
    access = logging.getLogger("uvicorn.access")
    captured = Lines()
    access.addHandler(captured)  # after uvicorn configured logging, which drops handlers
    try:
        with server:
            for query in CREDENTIAL_QUERIES:
                httpx.get(f"{server.url}/api/projects?{query}&thumb=1")
    finally:
        access.removeHandler(captured)
    lines = [line for line in captured.lines if "/api/projects" in line]
    assert len(lines) == len(CREDENTIAL_QUERIES)
    for line in lines:
        assert "SECRET" not in line and "***" in line and "thumb=1" in line, line


def test_error_messages_redact_credentials(service: RunningService) -> None:
    for url in ("/nowhere/x?access_token=SECRET", "s3://AKIA:SECRET@bucket/x", "/x?Sig=SECRET"):
        for path in ("/api/object", "/api/file"):
            response = service.client.get(path, params={"url": url})
            assert response.status_code in (403, 404, 422)
            assert "SECRET" not in response.text and "***" in response.text, response.text


# -- 4: the banner says where the token came from; --token warns -----------------------------------
def _banner(*args: str, env: dict[str, str] | None = None) -> str:
    proc = Process("service", "--port", str(free_port()), *args, env=env)
    try:
        proc.wait_for("#service=")
        return proc.drain()
    finally:
        proc.stop()


def test_the_banner_names_the_token_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "[red]token"
    token_file.write_text(TOKEN + "\n")
    output = _banner("--token-file", str(token_file))
    assert f"Token from --token-file {token_file}." in output and "warning" not in output
    output = _banner("--token", TOKEN)
    assert "Token from --token." in output and "warning:" in output and "ps" in output
    output = _banner(env={"TERCET_SERVICE_TOKEN": TOKEN})
    assert "Token from the environment variable TERCET_SERVICE_TOKEN." in output
    config.save_file_values({"service.token": TOKEN})
    output = _banner()
    assert f"Token from service.token in the config file {config.config_path()}." in output
    config.save_file_values({}, remove=["service.token"])
    token_path = config.config_dir() / "token"
    assert f"Token from a new token, saved in {token_path}." in _banner()
    assert f"Token from the token file {token_path}." in _banner()


def test_cli_output_prints_user_text_literally(tmp_path: Path) -> None:
    missing = tmp_path / "[bold]nope[/bold]"
    proc = Process("service", "--token-file", str(missing))
    assert proc.proc.wait(30) == 1
    assert f"--token-file {missing}: no such file." in proc.drain()


# -- 5: `tercet service` says whether a dashboard runs --------------------------------------------
def test_the_service_alone_does_not_claim_a_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: "Open the dashboard at …:8000" with nothing listening there.
    monkeypatch.setenv("TERCET_DASHBOARD_PORT", str(free_port()))
    output = _banner("--token", TOKEN)
    assert "No dashboard answers at http://127.0.0.1:" in output
    assert "`tercet dashboard`" in output and "Open the dashboard" not in output


def test_the_service_points_at_a_dashboard_that_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    service = f"http://127.0.0.1:{port}"
    cases = [([service], "Open the dashboard at:"), (["http://127.0.0.1:1"], "may not talk")]
    for services, expected in cases:
        with ThreadedServer(create_dashboard_app(services=services)) as dashboard:
            monkeypatch.setenv("TERCET_DASHBOARD_PORT", str(dashboard.port))
            proc = Process("service", "--port", str(port), "--token", TOKEN)
            try:
                proc.wait_for("#service=")
                assert expected in proc.drain()
            finally:
                proc.stop()


# -- 3: the dashboard's Content-Security-Policy ----------------------------------------------------
def test_the_dashboard_serves_a_strict_csp(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>Tercet</title>")
    app = create_dashboard_app(tmp_path, services=["http://127.0.0.1:5015/"])
    with ThreadedServer(app) as server:
        page = httpx.get(server.url + "/")
        info = httpx.get(server.url + "/tercet-dashboard.json").json()
    csp = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"
    assert csp["connect-src"] == "'self' http://127.0.0.1:5015"
    assert csp["img-src"] == "'self' data: http://127.0.0.1:5015"
    for directive in ("frame-ancestors", "object-src", "base-uri"):
        assert csp[directive] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"] + csp["style-src"] + csp["style-src-elem"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert info == {"services": ["http://127.0.0.1:5015"]}


@pytest.mark.parametrize(
    "bad", ["http://x;script-src *", "http://a b:1", "javascript:alert(1)", "http://h:1/p?q"]
)
def test_a_service_url_cannot_inject_into_the_csp(bad: str) -> None:
    with pytest.raises(ConfigError, match="Not an Object Service URL"):
        create_dashboard_app(services=[bad])


def test_the_built_dashboard_has_no_inline_script() -> None:
    from tercet.service.dashboard import STATIC_DIR

    index = STATIC_DIR / "index.html"
    if not index.exists():
        pytest.skip("the dashboard is not built")
    html = index.read_text()
    assert "<script>" not in html and " on" not in html.split("<body>")[1]
    assert all('src="' in tag for tag in html.split("<script")[1:])


# -- 6: both services on the GPU node's address, in one command ------------------------------------
def test_a_service_on_an_address_accepts_its_dashboard_there() -> None:
    # Before: "Disallowed CORS origin" unless service.cors_origins was set by hand.
    cfg = config.load()
    cfg.service.host = "127.0.0.2"
    with ThreadedServer(create_app(cfg, token=TOKEN), host="127.0.0.2") as server:
        preflight = httpx.options(
            server.url + "/api/projects",
            headers={
                "Origin": "http://127.0.0.2:8000",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        evil = httpx.options(
            server.url + "/api/projects",
            headers={"Origin": "http://127.0.0.3:8000", "Access-Control-Request-Method": "GET"},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.2:8000"
    assert "access-control-allow-origin" not in evil.headers


def test_tercet_ui_host_binds_both_and_prints_that_address(
    root: Path, processes: list[Process]
) -> None:
    make_table(n=5)
    port, dashboard_port = free_port(), free_port()
    proc = Process("ui", "--host", "127.0.0.2", "--no-browser", "--port", str(port),
                   "--dashboard-port", str(dashboard_port))  # fmt: skip
    processes.append(proc)
    url = urlsplit(proc.wait_for("#service=").strip())
    fragment = parse_qs(url.fragment)
    service = f"http://127.0.0.2:{port}"
    assert url.netloc == f"127.0.0.2:{dashboard_port}"
    assert unquote(fragment["service"][0]) == service
    wait_healthy(service)
    origin = f"http://127.0.0.2:{dashboard_port}"
    projects = httpx.get(
        service + "/api/projects",
        headers={"Origin": origin, "Authorization": f"Bearer {fragment['token'][0]}"},
    )
    assert projects.status_code == 200 and projects.headers["access-control-allow-origin"] == origin
    page = httpx.get(origin + "/")
    assert f"connect-src 'self' {service}" in page.headers["content-security-policy"]
    banner = proc.drain().split("#service=")[0]
    assert "127.0.0.1" not in banner and "warning" not in banner  # 127.0.0.0/8 is loopback


def test_tercet_ui_on_every_interface_names_the_machine_and_warns(
    root: Path, processes: list[Process]
) -> None:
    port, dashboard_port = free_port(), free_port()
    proc = Process("ui", "--host", "0.0.0.0", "--no-browser", "--port", str(port),
                   "--dashboard-port", str(dashboard_port))  # fmt: skip
    processes.append(proc)
    url = urlsplit(proc.wait_for("#service=").strip())
    output = proc.drain()
    name = socket.gethostname()
    assert url.hostname == name and "0.0.0.0" not in url.geturl()
    assert unquote(parse_qs(url.fragment)["service"][0]) == f"http://{name}:{port}"
    assert "warning:" in output and "every interface" in output and "unencrypted" in output


def test_nothing_here_changed_stored_objects(service: RunningService, root: Path) -> None:
    before = snapshot(root)
    for query in CREDENTIAL_QUERIES:
        _get(service, "/api/file", query)
        with service.anonymous() as anonymous:
            anonymous.post(f"/api/revisions?{query}", json={})
    assert snapshot(root) == before
