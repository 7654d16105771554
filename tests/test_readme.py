"""The README quickstart must run as written."""

from __future__ import annotations

import re
from pathlib import Path

import tercet

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_quickstart_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python quickstart"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    latest = namespace["latest"]
    assert isinstance(latest, tercet.Table)
    rows = {r["example_id"]: r for r in latest.rows}
    assert set(rows) == {0, 2}
    assert rows[0]["label"] == rows[2]["label"] == 1
    assert rows[0]["image"] == "<PROJECT_DATA>/0.png"
    assert len(latest.lineage()) == 3
