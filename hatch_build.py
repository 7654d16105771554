"""Build the dashboard into ``src/tercet/static`` when the package is built or installed.

A wheel then carries the built files, so users need no Node. Set ``TERCET_SKIP_DASHBOARD_BUILD=1``
to skip (for example when only Python changed and the static folder is already built).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DashboardBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        dashboard = root / "dashboard"
        static = root / "src" / "tercet" / "static"
        if os.environ.get("TERCET_SKIP_DASHBOARD_BUILD") == "1":
            return
        if not (dashboard / "package.json").exists():
            return  # building from an sdist that already carries static/
        if shutil.which("npm") is None:
            if (static / "index.html").exists():
                return
            raise RuntimeError(
                "npm was not found: it is needed once to build the dashboard "
                "(install Node.js 20+), or install a wheel, which carries the built files."
            )
        if _up_to_date(dashboard, static):
            return  # pip asks for metadata and then the wheel: build the front end once
        if not (dashboard / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=dashboard, check=True)
        subprocess.run(["npm", "run", "build"], cwd=dashboard, check=True)


def _up_to_date(dashboard: Path, static: Path) -> bool:
    built = static / "index.html"
    if not built.exists():
        return False
    newest = max(
        (
            p.stat().st_mtime
            for p in dashboard.rglob("*")
            if p.is_file() and "node_modules" not in p.parts
        ),
        default=0.0,
    )
    return built.stat().st_mtime >= newest
