"""``tercet service``, ``tercet ui`` and the dashboard static server."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from tercet.service.dashboard import create_dashboard_app, dashboard_url
from tercet.service.server import ThreadedServer
from tests.fixtures.service import RunningDashboard, make_table


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Process:
    """A ``tercet`` subprocess whose output lines are collected in the background."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tercet.cli import main; main()", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            # Ctrl-C's default back: a shell's background job (CI) ignores SIGINT and children
            # inherit that, so stop() waited 15 s for every service before killing it.
            preexec_fn=_default_sigint,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed; output: {''.join(self.output)}")

    def drain(self) -> str:
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return "".join(self.output)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.stop()


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy")


SECRET = "s3cret-s3cret-s3cret"


def test_tercet_service_prints_a_dashboard_url_with_the_token(
    root: Path, tmp_path: Path, processes: list[Process]
) -> None:
    make_table(n=5)
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n")
    proc = Process(
        "service", "--port", str(port), "--root", str(root), "--token-file", str(token_file)
    )
    processes.append(proc)
    line = proc.wait_for("#service=")
    url = urlsplit(line.strip())
    fragment = parse_qs(url.fragment)
    assert (url.scheme, url.netloc, url.path) == ("http", "127.0.0.1:8000", "/")
    assert unquote(fragment["service"][0]) == f"http://127.0.0.1:{port}"
    assert fragment["token"] == [SECRET]
    service = f"http://127.0.0.1:{port}"
    wait_healthy(service)
    headers = {"Authorization": f"Bearer {SECRET}"}
    projects = httpx.get(service + "/api/projects", headers=headers).json()
    assert [p["name"] for p in projects] == ["demo"]
    # A token in the URL is refused, and the access log does not keep it.
    assert httpx.get(service + "/api/projects", params={"token": SECRET}).status_code == 401
    assert proc.stop() in (0, 130)  # 130: re-raised Ctrl-C, the shell convention
    log = proc.drain()
    assert "Traceback" not in log
    assert f"Token from --token-file {token_file}." in log
    access = [line for line in log.splitlines() if "GET /api/projects?" in line]
    assert access and all("token=***" in line and SECRET not in line for line in access)


def test_tercet_ui_starts_both_servers_with_one_url(root: Path, processes: list[Process]) -> None:
    port, dashboard_port = free_port(), free_port()
    proc = Process(
        "ui",
        "--no-browser",
        "--root",
        str(root),
        "--port",
        str(port),
        "--dashboard-port",
        str(dashboard_port),
    )
    processes.append(proc)
    line = proc.wait_for("#service=")
    url = urlsplit(line.strip())
    assert url.netloc == f"127.0.0.1:{dashboard_port}"
    token = parse_qs(url.fragment)["token"][0]
    wait_healthy(f"http://127.0.0.1:{port}")
    page = httpx.get(f"http://127.0.0.1:{dashboard_port}/")
    assert page.status_code in (200, 503) and "Tercet" in page.text
    authorized = httpx.get(
        f"http://127.0.0.1:{port}/api/projects", headers={"Authorization": f"Bearer {token}"}
    )
    assert authorized.status_code == 200
    assert proc.stop() in (0, 130)  # 130: re-raised Ctrl-C, the shell convention


def test_dashboard_server_fixture_serves_the_package_folder(
    dashboard_server: RunningDashboard,
) -> None:
    page = httpx.get(dashboard_server.url + "/")
    assert dashboard_server.url.startswith("http://127.0.0.1:")
    assert page.status_code in (200, 503)
    assert page.headers["cache-control"] == "no-cache"
    if page.status_code == 503:
        assert "make install" in page.text


def test_dashboard_app_caches_assets_and_hardens_the_page(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Tercet</title>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    with ThreadedServer(create_dashboard_app(tmp_path)) as server:
        page = httpx.get(server.url + "/")
        asset = httpx.get(server.url + "/assets/app-1234.js")
        missing = httpx.get(server.url + "/nope.js")
    assert page.status_code == 200 and "Tercet" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert missing.status_code == 404


def test_dashboard_url_keeps_service_and_token_in_the_fragment() -> None:
    url = dashboard_url("http://127.0.0.1:8000", "http://127.0.0.1:5015", "a+b/c")
    assert url == "http://127.0.0.1:8000/#service=http%3A%2F%2F127.0.0.1%3A5015&token=a%2Bb/c"
    view = dashboard_url("http://h:8000", "http://h:5015", "t", "project=p&mode=gallery")
    assert view == "http://h:8000/#service=http%3A%2F%2Fh%3A5015&token=t&project=p&mode=gallery"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tercet_dashboard_serves_https_with_tls_files(
    tmp_path: Path, processes: list[Process]
) -> None:
    cert, key = _self_signed(tmp_path)
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>Tercet</title>")
    port = free_port()
    proc = Process("dashboard", "--port", str(port), "--static", str(static),
                   "--tls-cert", str(cert), "--tls-key", str(key))  # fmt: skip
    processes.append(proc)
    proc.wait_for(f"https://127.0.0.1:{port}")
    context = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 30
    while True:
        try:
            page = httpx.get(f"https://127.0.0.1:{port}/", verify=context, timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert page.status_code == 200 and "Tercet" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    with pytest.raises(httpx.TransportError):  # plain HTTP is not served on that port
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2).raise_for_status()

    half = Process("dashboard", "--port", str(free_port()), "--tls-cert", str(cert))
    processes.append(half)
    half.wait_for("--tls-key")
    assert half.proc.wait(15) == 1
