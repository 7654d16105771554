"""A token stays with its service, never rides in a URL, and the dashboard runs under its CSP,
on 127.0.0.1 and with both services on another address (issue #11; Python half:
tests/security/test_tokens.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.conftest import DEMO_PROJECT, Dash, csp_violations, watch_csp
from tests.browser.pages import open_run, tid
from tests.service.test_cli import Process, free_port


class Recorder:
    """Another "service" on loopback that answers like a permissive one and writes down every
    request: method, path with query, headers and body."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode("latin-1") if length else ""
                recorder.seen.append(f"{self.command} {self.path}\n{self.headers}\n{body}")

            def _answer(self, status: int, payload: Any = None) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
                self.send_header("Access-Control-Allow-Headers", "authorization, content-type")
                self.send_header("Access-Control-Allow-Methods", "GET, POST")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_OPTIONS(self) -> None:
                self._record()
                self._answer(204)

            def do_GET(self) -> None:
                self._record()
                if self.path.startswith("/api/health"):
                    self._answer(200, {"status": "ok", "version": "0"})
                else:
                    self._answer(200, [])

            def do_POST(self) -> None:
                self._record()
                self._answer(200, {"grant": "g", "expires": 2**40, "ttl": 600})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    other = Recorder()
    yield other
    other.close()


def settled_title(page: Any, recorder: Recorder, token: str) -> str:
    """The connect screen's title once the page has settled (asking, or connected), after
    checking that the other service has not seen the token."""
    page.locator(f"{tid('connect-title')}, {tid('projects-empty')}").first.wait_for()
    page.wait_for_timeout(300)  # requests that would follow a connection
    leaked = [request for request in recorder.seen if token in request]
    assert not leaked, f"the other service received the token: {leaked}"
    return str(page.locator(tid("connect-title")).inner_text())


def test_a_link_to_another_service_never_receives_the_token(dash: Dash, recorder: Recorder) -> None:
    page, token = dash.page, dash.service.token
    page.goto(dash.url())
    page.locator(tid("project-card", project=DEMO_PROJECT)).wait_for()
    # The probe: the same tab, which holds a token, opened on a link naming another service
    # (a hash change, as when the link is pasted into the address bar), then reloaded.
    page.goto(f"{dash.dashboard_url}/#service={quote(recorder.url, safe='')}")
    assert settled_title(page, recorder, token) == "Token needed"
    page.reload()
    assert settled_title(page, recorder, token) == "Token needed"
    for spelling in (recorder.url + "/", recorder.url.replace("http://", "HTTP://")):
        page.goto(f"{dash.dashboard_url}/#project=x&service={quote(spelling, safe='')}")
        assert settled_title(page, recorder, token) == "Token needed"
        assert page.locator(tid("connect-token")).input_value() == ""
    # Typing the other URL into the connect form after the right one: the token stays behind.
    page.locator(tid("connect-service")).fill(dash.service.url)
    assert page.locator(tid("connect-token")).input_value() == token
    page.locator(tid("connect-service")).fill(recorder.url)
    assert page.locator(tid("connect-token")).input_value() == ""
    page.locator(tid("connect-retry")).click()
    assert settled_title(page, recorder, token) == "Token needed"
    # The token is still bound to its own service: a link back connects without asking.
    page.goto(f"{dash.dashboard_url}/#service={quote(dash.service.url, safe='')}")
    page.locator(tid("project-card", project=DEMO_PROJECT)).wait_for()
    # The recorder does see what it is given, so its silence above means something.
    page.goto(f"{dash.dashboard_url}/#service={quote(recorder.url, safe='')}")
    page.locator(tid("connect-token")).fill("a-token-for-the-other-service")
    page.locator(tid("connect-retry")).click()
    page.locator(tid("projects-empty")).wait_for()
    assert any("Bearer a-token-for-the-other-service" in r for r in recorder.seen)
    assert not any(token in request for request in recorder.seen)


def test_the_token_never_appears_in_a_url(dash: Dash) -> None:
    page, token = dash.page, dash.service.token
    requests: list[Any] = []
    page.on("request", lambda r: requests.append(r))
    open_run(dash)
    page.locator(tid("conn-status"), has_text="Live").wait_for()
    urls = [r.url for r in requests]
    assert not [u for u in urls if token in u or quote(token, safe="") in u]
    files = [r for r in requests if "/api/file?" in r.url]
    assert files and all("grant=" in r.url for r in files)
    api = [
        r
        for r in requests
        if r.url.startswith(dash.service.url + "/api/")
        and "/api/file?" not in r.url
        and "/api/health" not in r.url
        and r.method != "OPTIONS"
    ]
    assert any("/api/events" in r.url for r in api)
    for request in api:
        assert request.all_headers().get("authorization") == f"Bearer {token}", request.url


def test_a_bookmark_without_a_token_asks_for_it(
    blank_page: tuple[Any, str], start_service: Any
) -> None:
    page, dashboard = blank_page
    service = start_service(cors_origins=[dashboard])
    page.goto(f"{dashboard}/#service={quote(service.url, safe='')}")
    page.locator(tid("connect-title")).wait_for()
    assert page.locator(tid("connect-title")).inner_text() == "Token needed"  # was "rejected"
    assert "Enter the token" in page.locator(tid("connect-message")).inner_text()
    # the key is drawn (an svg): the ⚿ character rendered as an empty box in most fonts
    key = page.locator(f"svg{tid('key-icon')}").bounding_box()
    assert key is not None and key["width"] >= 16 and key["height"] >= 16
    assert "⚿" not in page.locator("body").inner_text()
    page.locator(tid("connect-token")).fill(service.token)
    page.locator(tid("connect-retry")).click()
    page.locator(tid("projects-empty")).wait_for()


def test_the_policy_blocks_an_injected_script(
    chromium: Any, dashboard_server: Any, start_service: Any
) -> None:
    service = start_service(cors_origins=[dashboard_server.url])
    context = chromium.new_context()
    console = watch_csp(context)
    page = context.new_page()
    try:
        page.goto(f"{dashboard_server.url}/#service={quote(service.url, safe='')}")
        page.locator(tid("connect-title")).wait_for()
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.__injected = 1'; document.body.append(s); }"
        )
        page.wait_for_function("() => window.__cspViolations.length > 0")
        assert page.evaluate("window.__injected") is None
        assert any("script-src" in v for v in csp_violations(page, console))
    finally:
        context.close()


def test_tercet_ui_on_another_address_loads_projects_under_its_csp(
    chromium: Any, demo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The GPU-node deployment in one command: both services on one address, no cors_origins.
    monkeypatch.setenv("TERCET_ROOT", str(demo_root))
    port, dashboard_port = free_port(), free_port()
    proc = Process("ui", "--host", "127.0.0.2", "--no-browser", "--port", str(port),
                   "--dashboard-port", str(dashboard_port))  # fmt: skip
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    console = watch_csp(context)
    page = context.new_page()
    try:
        url = proc.wait_for("#service=").strip()
        assert url.startswith(f"http://127.0.0.2:{dashboard_port}/#service=")
        page.goto(url)
        page.locator(tid("project-card", project=DEMO_PROJECT)).click()
        page.locator(tid("run-link")).first.click()
        page.wait_for_function(
            "() => { const im = [...document.querySelectorAll('img.thumb')];"
            " return im.length > 0 && im.slice(0, 5).every(i => i.complete && i.naturalWidth > 0);"
            " }"
        )
        assert not csp_violations(page, console)
    finally:
        context.close()
        proc.stop()
