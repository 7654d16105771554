"""Runs started by a test end with it: none leaks into the next test as the active run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tercet


@pytest.fixture(autouse=True)
def _close_active_run() -> Iterator[None]:
    yield
    active = tercet.active_run()
    if active is not None:
        active.close()
