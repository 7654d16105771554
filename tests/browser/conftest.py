"""Browser-test fixtures: headless Debian Chromium driven by Playwright, the demo project built once
per session, and per test a copy of it served by a real Object Service plus the dashboard server.

Chromium is the system one (``/usr/bin/chromium``); ``playwright install`` is never needed. Each
test gets a fresh browser context (its own storage) in one browser per session. Screenshots go to
``tests/browser/artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import pytest

from tercet.testing import chromium as system_chromium

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboard"
STATIC = REPO / "src" / "tercet" / "static"
ARTIFACTS = Path(__file__).parent / "artifacts"
DEMO_PROJECT = "digits-demo"
# `make test` (and so CI) sets this: there a missing Chromium or npm is a failure, not a skip,
# or a machine without them would report the browser suite green without running it.
REQUIRED = os.environ.get("TERCET_REQUIRE_BROWSER") == "1"


def _unavailable(reason: str) -> NoReturn:
    if REQUIRED:
        pytest.fail(f"{reason} (TERCET_REQUIRE_BROWSER=1: the browser tests must run)", False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


def _newest_source_mtime() -> float:
    files = [DASHBOARD / "index.html", DASHBOARD / "package.json", DASHBOARD / "vite.config.ts"]
    files += [p for p in (DASHBOARD / "src").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files if p.exists())


def ensure_dashboard_built() -> None:
    """Builds ``src/tercet/static`` when it is missing or older than the dashboard sources."""
    index = STATIC / "index.html"
    if index.exists() and index.stat().st_mtime >= _newest_source_mtime():
        return
    if shutil.which("npm") is None:
        _unavailable("the dashboard is not built and npm is not installed")
    if not (DASHBOARD / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=DASHBOARD, check=True)
    subprocess.run(["npm", "run", "build"], cwd=DASHBOARD, check=True, capture_output=True)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(system_chromium.CHROMIUM).exists():
        _unavailable(f"no Chromium at {system_chromium.CHROMIUM}: apt-get install -y chromium")
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("Playwright is not installed: make install")
    ensure_dashboard_built()
    with sync_api.sync_playwright() as p:
        browser = system_chromium.launch(p)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits demo (2 epochs, PCA 3-D projection), built once; tests use copies of it."""
    from tercet import demo

    root = tmp_path_factory.mktemp("demo") / "root"
    root.mkdir()
    demo.build(root=str(root), project=DEMO_PROJECT, epochs=2, progress=False)
    return root


@dataclass
class Dash:
    """A dashboard page wired to a live service over a private copy of the demo project."""

    page: Any
    service: Any
    dashboard_url: str
    root: Path

    def url(self, **view: str) -> str:
        parts = [f"service={quote(self.service.url, safe='')}", f"token={self.service.token}"]
        parts += [f"{k}={quote(v, safe='')}" for k, v in view.items()]
        return f"{self.dashboard_url}/#{'&'.join(parts)}"

    def shot(self, name: str, **kw: Any) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), **kw)
        return path


# Registered before any page script runs: every Content-Security-Policy violation is kept on the
# window, so a test (and the fixtures' teardown) can see what the policy blocked.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'}`);
});
"""


def watch_csp(context: Any) -> list[str]:
    """Collects CSP violations of every page of ``context`` (events and console reports)."""
    violations: list[str] = []
    context.add_init_script(CSP_LISTENER)

    def on_page(page: Any) -> None:
        page.on(
            "console",
            lambda m: (
                violations.append(m.text)
                if m.type == "error" and "Content Security Policy" in m.text
                else None
            ),
        )

    context.on("page", on_page)
    return violations


def csp_violations(page: Any, console: list[str]) -> list[str]:
    """Violations seen by ``page`` so far, from its event listener and its console."""
    try:
        seen = list(page.evaluate("window.__cspViolations || []"))
    except Exception:  # the page is gone or navigating; the console list still holds them
        seen = []
    return [*seen, *console]


@pytest.fixture
def demo_root(demo_source: Path, root: Path) -> Path:
    """A private copy of the demo project in this test's root, with its images copied too.

    The project's ``aliases.yaml`` names the shared image folder, which the service does not
    serve from a copied project (an alias from a project file only counts inside a project
    root), so the copy's alias is pointed at its own images, as `tercet share import` would."""
    shutil.copytree(demo_source / DEMO_PROJECT, root / DEMO_PROJECT)
    shutil.copytree(demo_source / "demo-data", root / "demo-data")
    aliases = root / DEMO_PROJECT / "aliases.yaml"
    aliases.write_text(aliases.read_text().replace(str(demo_source), str(root)))
    return root


@pytest.fixture
def dash(
    chromium: Any,
    demo_root: Path,
    start_service: Callable[..., Any],
    dashboard_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Dash]:
    monkeypatch.setenv("TERCET_ROOT", str(demo_root))
    service = start_service(cors_origins=[dashboard_server.url], scan_interval=0.5)
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark")
    context.set_default_timeout(20_000)
    console = watch_csp(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield Dash(page, service, dashboard_server.url, demo_root)
    violations = csp_violations(page, console)
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def blank_page(chromium: Any, dashboard_server: Any) -> Iterator[tuple[Any, str]]:
    """A page and the dashboard URL, with no service behind it."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    context.set_default_timeout(20_000)
    console = watch_csp(context)
    page = context.new_page()
    yield page, dashboard_server.url
    violations = csp_violations(page, console)
    context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"
