"""The README quickstart must run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tercet

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_quickstart_runs() -> None:
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python quickstart"
    # The one-time setup the quickstart asks for, run as the README writes it.
    setup = re.search(r"#\s+tercet (alias set PROJECT_DATA \S+)", blocks[0])
    assert setup, "the quickstart no longer says how to set <PROJECT_DATA>"
    subprocess.run(
        [sys.executable, "-c", "from tercet.cli import main; main()", *setup.group(1).split()],
        check=True, env=dict(os.environ), capture_output=True, timeout=60,
    )  # fmt: skip
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    latest = namespace["latest"]
    assert isinstance(latest, tercet.Table)
    rows = {r["example_id"]: r for r in latest.rows}
    assert set(rows) == {0, 2}
    assert rows[0]["label"] == rows[2]["label"] == 1
    assert rows[0]["image"] == "<PROJECT_DATA>/0.png"
    assert len(latest.lineage()) == 3
