"""scripts/mutation_run.py stamps each of mutmut's phases in mutants.log, and
scripts/mutation_report.py reads the stamps back as the wall time of each phase."""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).parents[1] / "scripts"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return _load("mutation_run")


@pytest.fixture(scope="module")
def report() -> ModuleType:
    return _load("mutation_report")


def test_each_phase_is_stamped_once_with_the_output_kept_and_the_exit_status_passed_on(
    run: ModuleType, tmp_path: Path
) -> None:
    # mutmut's spinner redraws a title with \r and no newline; the second title arrives later.
    fake = (
        "import sys\n"
        "w = sys.stdout.write\n"
        "w('\\r⠋ Generating mutants'); w('\\r⠙ Generating mutants\\n    done\\n')\n"
        "sys.stdout.flush()\n"
        "w('\\r⠋ Running stats'); w('\\r⠙ Running stats\\n')\n"
        "sys.exit(3)\n"
    )
    log = tmp_path / "mutants.log"
    assert run.main([str(log), "--", sys.executable, "-c", fake]) == 3
    text = log.read_text(encoding="utf-8")
    stamps = [line for line in text.splitlines() if line.startswith("## ")]
    assert [s.split(" ", 2)[2] for s in stamps[1:3]] == ["Generating mutants", "Running stats"]
    assert stamps[0].split(" ", 2)[2] == f"start {sys.executable} -c import sys"
    assert " end exit=3 " in stamps[-1]
    assert "⠙ Generating mutants\n    done\n" in text
    assert text.index(stamps[2]) < text.rindex("⠋ Running stats")


def test_phases_are_the_gaps_between_stamps_and_the_total_is_judged_against_the_budget(
    report: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "mutants.log"
    log.write_text(
        "## 2026-12-01T02:00:00+00:00 start mutmut run\n"
        "## 2026-12-01T02:00:05+00:00 Generating mutants\n⠋ Generating mutants\r\n"
        "## 2026-12-01T02:01:05+00:00 Running stats\n"
        "## 2026-12-01T02:31:10+00:00 end exit=0 wall=1870s cpu=3500s\n",
        encoding="utf-8",
    )
    rows = report.phases(log)
    assert rows == [
        ("Generating mutants", 60.0),
        ("Running stats", 1805.0),
        ("total (exit 0, 3500 s of CPU)", 1870.0),
    ]
    report.print_phases(rows, 30)
    assert "OVER the 30-minute budget" in capsys.readouterr().out
    report.print_phases(rows, 32)
    assert "within the 32-minute budget" in capsys.readouterr().out


def test_a_log_without_stamps_or_still_running_says_so(report: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "mutants.log"
    assert report.phases(tmp_path / "missing.log") == []
    log.write_text("⠋ Generating mutants\r⠙ Generating mutants\n", encoding="utf-8")
    assert report.phases(log) == []
    log.write_text(
        "## 2026-12-01T02:00:00+00:00 start mutmut run\n"
        "## 2026-12-01T02:00:05+00:00 Generating mutants\n"
        "## 2026-12-01T02:02:05+00:00 Running stats\n",
        encoding="utf-8",
    )
    # The last phase runs until the log was last written (the run's progress lines).
    written = datetime.fromisoformat("2026-12-01T02:03:45+00:00").timestamp()
    os.utime(log, (written, written))
    assert report.phases(log) == [
        ("Generating mutants", 120.0),
        ("Running stats", 100.0),
        ("so far (still running or stopped)", 225.0),
    ]


def test_the_type_checker_sees_every_mutated_file_and_only_those() -> None:
    # A mutated file left out would have its type-invalid mutants run as tests (or survive);
    # the type check runs in mutants/, where only these files hold mutants.
    config = tomllib.loads((SCRIPTS.parent / "pyproject.toml").read_text())["tool"]["mutmut"]
    command = config["type_check_command"]
    checked = [arg for arg in command if arg.endswith(".py")]
    assert sorted(checked) == sorted(config["only_mutate"])
    assert command[command.index("--follow-imports") + 1] == "silent"
