"""``tercet export``: a table's latest edits written in a dataset format."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tercet.cli import app
from tercet.tables.table import Table

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"
runner = CliRunner()


def _table() -> Table:
    return Table.from_yolo(str(FIXTURES / "yolo/detect/data.yaml"), project="p", dataset="d")


def test_export_writes_the_latest_revision(tmp_path: Path) -> None:
    t = _table()
    t.set_weights([t.rows[0]["example_id"]], [0.0])
    out = tmp_path / "yolo"
    result = runner.invoke(app, ["export", t.url, str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "to " + str(out / "data.yaml") in result.output
    assert sorted(p.name for p in (out / "labels/train").iterdir()) == ["im1.txt"]
    result = runner.invoke(app, ["export", t.url, str(tmp_path / "all.jsonl"), "--all-rows"])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 2


def test_export_error_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    t = _table()
    out = tmp_path / "x.voc"
    proc = subprocess.run(
        [sys.executable, "-c", "from tercet.cli import main; main()", "export", t.url, str(out),
         "--format", "[voc]"],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "error: Unknown export format '[voc]'" in proc.stderr  # escaped, not read as markup
    assert "Traceback" not in proc.stderr
    assert not out.exists()
