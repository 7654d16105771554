"""Shared fixtures: every test gets its own config file, project root and alias registry."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tercet
from tercet import storage

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
    # The service's disk cache of remote objects lives in the platform cache dir by default.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tercet.aliases.clear()
    yield root
    tercet.aliases.clear()


@pytest.fixture
def root(isolated: Path) -> Path:
    """The project root of this test."""
    return isolated


StoragePatch = Callable[[str, Callable[..., Any]], None]


@pytest.fixture
def patch_storage(monkeypatch: pytest.MonkeyPatch) -> StoragePatch:
    """Replace a function of :mod:`tercet.storage` wherever it is bound: the package face that
    other modules call, and each storage module that calls it internally."""

    def patch(name: str, replacement: Callable[..., Any]) -> None:
        original = getattr(storage, name)
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("tercet.storage") and getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, replacement)

    return patch
