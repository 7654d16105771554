"""Shared fixtures: every test gets its own config file, project root and alias registry."""

from __future__ import annotations

import json
import os
import signal
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


_DURATIONS: dict[str, float] = {}


def _under_mutant() -> bool:
    """True in a test run for one of mutmut's mutants, with each test's clean duration (from
    ``mutmut-stats.json`` in ``mutants/``, the folder it runs tests from) in ``_DURATIONS``."""
    if "__mutmut_" not in os.environ.get("MUTANT_UNDER_TEST", ""):
        return False
    if not _DURATIONS:
        try:
            with open("mutmut-stats.json") as fh:
                _DURATIONS.update(json.load(fh)["duration_by_test"])
        except (OSError, ValueError, KeyError):
            return False
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under a mutant, a test that runs ten times as long as it did clean (20 s at least) fails.

    mutmut's own limit is CPU time over all of a mutant's tests, so a mutant that makes one test
    spin or wait costs minutes (four such in storage/paths took 190 s each); the test fails
    either way, this says which one and stops it in seconds."""
    if not _under_mutant():
        yield
        return
    limit = max(20, int(10 * _DURATIONS.get(item.nodeid, 2.0)))

    def stop(signum: int, frame: object) -> None:
        mutant = os.environ["MUTANT_UNDER_TEST"]
        raise TimeoutError(f"{item.nodeid} ran past {limit} s under {mutant}")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def pytest_itemcollected(item: pytest.Item) -> None:
    # Marked here, from the fixture, so no test that starts a service can miss the mark.
    if "start_service" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.http)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _under_mutant():
        # mutmut passes a mutant's tests in set order and stops at the first failure (-x): the
        # fastest first finds a killing test soonest. Files stay together (module fixtures).
        first: dict[str, float] = {}
        for item in items:
            t = _DURATIONS.get(item.nodeid, 0.0)
            first[item.nodeid.split("::")[0]] = min(first.get(item.nodeid.split("::")[0], t), t)
        items.sort(key=lambda i: (first[i.nodeid.split("::")[0]], _DURATIONS.get(i.nodeid, 0.0)))
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
