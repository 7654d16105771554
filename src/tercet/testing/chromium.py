"""Debian's headless Chromium, launched the one way that works offline on a machine without a GPU.

Used by the browser tests and the dashboard benchmark; Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
from typing import Any

CHROMIUM = os.environ.get("TERCET_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed
# network refuses many times a start; --no-sandbox because tests run as root in containers.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a running ``sync_playwright()`` context."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
