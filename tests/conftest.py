"""Shared fixtures: every test gets its own config file, project root and alias registry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import tercet

pytest_plugins = ["tests.fixtures.service", "tests.fixtures.s3", "tests.fixtures.demo"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private config file and project root; no alias or TERCET_* variable leaks in or out."""
    for key in list(os.environ):
        if key.startswith("TERCET_"):
            monkeypatch.delenv(key)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("TERCET_CONFIG", str(config_dir / "config.yaml"))
    monkeypatch.setenv("TERCET_ROOT", str(root))
    tercet.aliases.clear()
    yield root
    tercet.aliases.clear()


@pytest.fixture
def root(isolated: Path) -> Path:
    """The project root of this test."""
    return isolated
