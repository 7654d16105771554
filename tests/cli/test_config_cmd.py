from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tercet import config
from tercet.cli import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("config", "alias", "ls", "table"):
        assert command in result.output


def test_config_show_prints_value_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERCET_SERVICE_PORT", "6111")
    result = runner.invoke(app, ["config", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "service.port" in ln)
    assert "6111" in line and "env TERCET_SERVICE_PORT" in line


def test_alias_set_list_unset_round_trip(tmp_path: Path) -> None:
    result = runner.invoke(app, ["alias", "set", "PROJECT_DATA", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert config.load().aliases["PROJECT_DATA"] == str(tmp_path)
    listed = runner.invoke(app, ["alias", "list"], env={"COLUMNS": "200"})
    assert "<PROJECT_DATA>" in listed.output and str(tmp_path) in listed.output
    result = runner.invoke(app, ["alias", "unset", "PROJECT_DATA"])
    assert result.exit_code == 0
    assert "PROJECT_DATA" not in config.load().aliases


def test_errors_print_one_line_without_traceback() -> None:
    config.config_path().write_text("servise: {}\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from tercet.cli import main; main()", "config", "show"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert proc.returncode == 1
    assert "unknown key 'servise'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_alias_name_is_rejected() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from tercet.cli import main; main()", "alias", "set", "bad", "/x"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert proc.returncode == 1 and "not a valid alias name" in proc.stderr
