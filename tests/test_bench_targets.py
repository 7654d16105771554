"""bench/targets.py: every figure with a target decides the exit status of ``make bench``."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
from rich.console import Console


@pytest.fixture(scope="module")
def targets() -> ModuleType:
    path = Path(__file__).parents[1] / "bench" / "targets.py"
    spec = importlib.util.spec_from_file_location("bench_targets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _report(t: object) -> tuple[int, str]:
    out = io.StringIO()
    code = t.report(Console(file=out, width=200))  # type: ignore[attr-defined]
    return code, out.getvalue()


def test_all_targets_met_exits_zero(targets: ModuleType) -> None:
    t = targets.Targets("met")
    assert t.ratio("write", 1.2, 1.0, at_most=1.3)
    assert t.at_most("bytes", 4000, 4096, unit="B")
    assert t.at_least("rows/s", 250_000, 200_000, unit="rows/s")
    t.info("no target", 5.0)
    code, text = _report(t)
    assert code == 0
    assert "1.20x" in text and "all 3 targets met" in text


def test_a_missed_ratio_exits_one_and_is_named(
    targets: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BENCH_NO_TARGETS", raising=False)
    t = targets.Targets("missed")
    assert t.ratio("read [red]x[/]", 1.0, 1.0, at_most=1.3)
    assert not t.ratio("write", 1.4, 1.0, at_most=1.3)
    assert not t.at_least("rows/s", 100, 200)
    code, text = _report(t)
    assert code == 1
    assert [f.name for f in t.missed] == ["write", "rows/s"]
    assert "MISSED TARGETS: write, rows/s" in text
    assert "read [red]x[/]" in text  # user text is escaped, not rendered as markup
    monkeypatch.setenv("BENCH_NO_TARGETS", "1")
    assert _report(t)[0] == 0


def test_a_ratio_without_a_baseline_is_missed(targets: ModuleType) -> None:
    t = targets.Targets("zero")
    assert not t.ratio("write", 1.0, 0.0, at_most=1.3)
    assert _report(t)[0] == 1
