"""Where the browser suite must run (``make test``, CI), a machine without Chromium fails it
instead of turning every browser test into a skip and reporting green."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_BROWSER_TEST = "tests/browser/test_format_rules.py"


def _pytest(**env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TERCET_REQUIRE")}
    full.update(env, TERCET_CHROMIUM="/nonexistent/chromium")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", ONE_BROWSER_TEST],
        cwd=REPO, env=full, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_without_chromium_the_required_browser_suite_fails_and_says_why() -> None:
    required = _pytest(TERCET_REQUIRE_BROWSER="1")
    assert required.returncode == 1, required.stdout[-2000:]
    assert "no Chromium at /nonexistent/chromium" in required.stdout
    assert "TERCET_REQUIRE_BROWSER=1" in required.stdout


def test_without_chromium_a_local_run_skips_the_browser_tests() -> None:
    local = _pytest()
    assert local.returncode == 0, local.stdout[-2000:]
    assert "skipped" in local.stdout and "failed" not in local.stdout


def test_make_test_requires_the_browser_suite() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "TERCET_REQUIRE_BROWSER=1" in recipe and "pytest" in recipe
