"""A revision cannot pin ``latest()`` by claiming a time in the future.

Before, the latest rule trusted each descriptor's ``created``: a writer whose clock ran a year
ahead, or a descriptor planted with ``2099``, stayed the latest for that long, and training read
its labels. Now a revision's ``created`` counts only up to when the storage recorded it (plus
``format.SKEW_TOLERANCE``); beyond that it ranks by the storage's time. The library
(``Table.latest()``, which training uses) and the service (``latest``/``is_latest``) follow the
same rule.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import tercet
from tercet import format, storage
from tests.fixtures.service import StartService

YEAR = timedelta(days=365)


@pytest.fixture
def source(root: Path) -> tercet.Table:
    return tercet.Table.create(
        {"label": np.array([0, 0, 0, 0], dtype=np.int32)}, project="p", dataset="d", name="train"
    )


def skewed_edit(
    table: tercet.Table, monkeypatch: pytest.MonkeyPatch, ahead: timedelta, value: int
) -> tercet.Table:
    """An edit by a writer whose clock runs ``ahead`` (only this writer's clock is wrong)."""
    real = format.now
    with monkeypatch.context() as m:
        m.setattr(format, "now", lambda: real() + ahead)
        edited = table.set_values("label", [0], [value], message=f"clock ahead by {ahead}")
    # Written a minute ago, as the storage recorded it.
    then = time.time() - 60
    os.utime(format.descriptor_url(edited.url), (then, then))
    return edited


def listing(start_service: StartService) -> dict[str, dict[str, object]]:
    service = start_service()
    service.scan()
    return {t["url"]: t for t in service.client.get("/api/projects/p/tables").json()}


@pytest.mark.parametrize("ahead", [YEAR, timedelta(hours=1), timedelta(minutes=10)])
def test_a_writer_with_a_fast_clock_does_not_stay_latest(
    source: tercet.Table,
    monkeypatch: pytest.MonkeyPatch,
    start_service: StartService,
    ahead: timedelta,
) -> None:
    skewed = skewed_edit(source, monkeypatch, ahead, value=9)
    assert source.latest().url == skewed.url  # the newest, for now: nothing came after it

    honest = source.set_values("label", [0], [1], message="later, with a right clock")

    assert source.latest().url == honest.url
    assert skewed.latest().url == skewed.url
    assert source.latest().to_pandas().label[0] == 1  # what training reads
    tables = listing(start_service)
    assert tables[source.url]["latest"] == honest.url  # the service's rule is the same
    assert [u for u, t in tables.items() if t["is_latest"]] == [honest.url]


def plant(source: tercet.Table, created: datetime, stored: float, label: int) -> str:
    """A revision folder written by someone else (a bundle, a hand-made copy): its descriptor
    says ``created``, its file says it was stored at ``stored``."""
    name = f"train{format.REVISION_SEPARATOR}{format.unique_suffix(created)}"
    folder = storage.join(storage.parent(source.url), name)
    descriptor = dict(source.descriptor)
    descriptor.pop("rows")
    descriptor.update(
        id="f" * 32,
        name=name,
        created=created.isoformat(),
        parent="../train",
        message="planted",
        delta={"deleted": [], "set": {"label": {"example_id": [0], "value": [label]}}},
    )
    storage.write_json(format.descriptor_url(folder), descriptor)
    os.utime(format.descriptor_url(folder), (stored, stored))
    return folder


def test_a_planted_descriptor_from_2099_does_not_stay_latest(
    source: tercet.Table, start_service: StartService
) -> None:
    planted = plant(source, datetime(2099, 1, 1, tzinfo=UTC), time.time() - 60, label=7)
    assert source.latest().url == planted  # nothing came after it yet

    honest = source.set_values("label", [0], [1])

    assert source.latest().url == honest.url
    assert source.latest().to_pandas().label[0] == 1
    tables = listing(start_service)
    assert tables[source.url]["latest"] == honest.url
    assert [u for u, t in tables.items() if t["is_latest"]] == [honest.url]


def test_a_descriptor_whose_storage_time_is_in_the_future_too_never_wins(
    source: tercet.Table, start_service: StartService
) -> None:
    """Local files can carry any modification time (a tar unpacked by hand keeps its own)."""
    honest = source.set_values("label", [0], [1])
    future = datetime(2099, 1, 1, tzinfo=UTC)
    plant(source, future, future.timestamp(), label=7)

    assert source.latest().url == honest.url
    tables = listing(start_service)
    assert tables[source.url]["latest"] == honest.url
    assert [u for u, t in tables.items() if t["is_latest"]] == [honest.url]


def test_small_skew_within_the_tolerance_keeps_created(
    source: tercet.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clocks differ by a little everywhere: within the tolerance, created still decides."""
    first = source.set_values("label", [0], [1])
    ahead = skewed_edit(source, monkeypatch, timedelta(minutes=1), value=2)
    assert source.latest().url == ahead.url
    assert first.latest().url == first.url


def test_is_from_future_is_the_rule_for_importers() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert format.is_from_future("2099-01-01T00:00:00+00:00", now)
    assert format.is_from_future(now + format.SKEW_TOLERANCE + timedelta(seconds=1), now)
    assert not format.is_from_future(now + format.SKEW_TOLERANCE, now)
    assert not format.is_from_future("2026-11-30T12:00:00+00:00", now)
    assert not format.is_from_future("2026-11-30T12:00:00", now)  # naive: read as UTC
    assert not format.is_from_future("not a time", now)


def test_the_rule_checks_created_against_the_storage_time() -> None:
    hour_ago = format.now().replace(microsecond=0) - timedelta(hours=1)
    stored = hour_ago.timestamp()
    honest = format.Revision("a", None, (hour_ago + timedelta(seconds=1)).isoformat(), "1", stored)
    fast = format.Revision("b", None, (hour_ago + YEAR).isoformat(), "2", stored - 3600)
    assert format.claimed_time(honest) == honest.created
    assert format.claimed_time(fast) == (hour_ago - timedelta(hours=1)).isoformat()
    assert format.newest([honest, fast]) == honest
    unknown = format.Revision("c", None, "2099-01-01T00:00:00+00:00", "3")  # no storage time
    assert format.newest([honest, unknown]) == honest
