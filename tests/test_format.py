"""The on-disk format's rules (tercet.format), and proof that every reader asks them.

The last tests change a rule in :mod:`tercet.format` and watch the library, the service (over
HTTP), the CLI and ``tercet share`` follow: a reader with its own copy of the rule would not.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tercet
from tercet import format, share, storage
from tercet.cli import app
from tercet.errors import CorruptObjectError, RunError
from tests.fixtures.service import StartService

R = format.Revision
WIDE = {"COLUMNS": "1000"}  # rich wraps at 80 columns without a terminal


def test_latest_is_the_newest_leaf_below_a_revision() -> None:
    src = R("s", None, "1", "a")
    a, b = R("a", "s", "2", "a"), R("b", "s", "3", "a")
    a1 = R("a1", "a", "4", "a")
    revs = [src, a, b, a1]
    assert format.latest_leaf(src, revs).url == "a1"  # a1 is newer than the leaf b
    assert format.latest_leaf(b, revs).url == "b"
    assert format.newest_leaf(revs) == a1


def test_one_clock_tick_is_broken_by_id_the_same_way_everywhere() -> None:
    src = R("s", None, "1", "a")
    x, y = R("x", "s", "2", "b"), R("y", "s", "2", "c")
    assert format.latest_leaf(src, [src, x, y]).url == "y"
    assert format.latest_of_each([src, x, y])["s"] == "y"


def _by_definition(start: format.Revision, revs: list[format.Revision]) -> str:
    """The rule as written, by brute force: descendants found by walking each revision's parent
    links up to ``start``; among those without children, the newest by (created, id)."""
    parent = {r.url: r.parent for r in revs}

    def below(url: str) -> bool:
        while url is not None:
            if url == start.url:
                return True
            url = parent.get(url)  # type: ignore[assignment]
        return False

    has_child = {r.parent for r in revs if r.parent}
    leaves = [r for r in revs if below(r.url) and r.url not in has_child]
    return max(leaves, key=lambda r: (r.created, r.id)).url


def test_latest_follows_its_definition_on_random_trees() -> None:
    rng = random.Random(7)
    for _ in range(50):
        revs = [R("r0", None, "0000", "0")]
        for i in range(1, rng.randint(1, 40)):
            parent = rng.choice(revs).url
            revs.append(R(f"r{i}", parent, f"{rng.randint(0, 30):04d}", f"{rng.randint(0, 9)}"))
        each = format.latest_of_each(revs)
        expected = {r.url: _by_definition(r, revs) for r in revs}
        assert each == expected
        assert {r.url: format.latest_leaf(r, revs).url for r in revs} == expected


def test_a_chain_of_ten_thousand_revisions_needs_no_recursion() -> None:
    revs = [R("r0", None, "0", "0")] + [
        R(f"r{i}", f"r{i - 1}", str(i), "0") for i in range(1, 10_000)
    ]
    assert format.latest_of_each(revs)["r0"] == "r9999"


def test_looping_parent_links_end() -> None:
    x, y = R("x", "y", "1", "1"), R("y", "x", "2", "2")
    assert set(format.latest_of_each([x, y])) == {"x", "y"}
    assert format.latest_leaf(x, [x, y]).url in ("x", "y")


def test_object_paths_and_revision_names() -> None:
    assert format.object_kind("p/datasets/d/tables/train.20260101T000000000000-abc123") == "table"
    assert format.object_kind("p/runs/r") == "run"
    assert format.object_kind("p/runs/../x") is None
    assert format.object_kind("p/datasets/d/tables") is None
    assert format.object_kind("p/runs/r/events") is None
    assert (
        format.containing_object("p/datasets/d/tables/t/rows/a.parquet") == "p/datasets/d/tables/t"
    )
    assert format.containing_object("p/runs/r/events/e.json") == "p/runs/r"
    assert format.containing_object("p/runs/r") is None  # the folder itself, not a file in it
    assert format.containing_object("p/data/DATA/1.png") is None
    name = format.revision_name("train")
    assert format.table_of(name) == "train" and format.is_revision_of(name, "train")
    assert not format.is_revision_of("trainer", "train")
    assert format.object_folder("/r/p/runs/x/object.json") == "/r/p/runs/x"
    assert format.time_of_name("20261130T090000123456-ab12cd.json") == (
        "2026-11-30T09:00:00.123456+00:00"
    )
    assert format.time_of_name("notes.json") is None


def test_a_descriptor_from_the_future_says_to_upgrade() -> None:
    newer = {"format": "tercet.run", "format_version": 99}
    with pytest.raises(RunError, match="reads up to 1.*pip install -U tercet"):
        format.check_descriptor("run", newer, "x/object.json", RunError)
    with pytest.raises(CorruptObjectError, match=r"lacks the keys \['id'"):
        format.check_descriptor("table", {"format": "tercet.table", "format_version": 1}, "t")


# -- every reader asks tercet.format ---------------------------------------------------------------
def _oldest(revisions: Iterable[format.Revision]) -> format.Revision:
    return min(revisions, key=lambda r: (r.created, r.id))


@pytest.fixture
def two_leaves(root: Path) -> tuple[tercet.Table, tercet.Table, tercet.Table]:
    """A source with two leaf revisions, ``older`` then ``newer``."""
    source = tercet.Table.create(
        {"label": np.array([0, 1, 2, 3])}, project="p", dataset="d", name="train"
    )
    older = source.delete_rows([0], message="older")
    newer = source.delete_rows([1], message="newer")
    return source, older, newer


def test_latest_follows_the_format_rule_in_library_service_and_cli(
    two_leaves: tuple[tercet.Table, tercet.Table, tercet.Table],
    start_service: StartService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, older, newer = two_leaves
    service = start_service()

    def readers() -> tuple[str, str, str, str]:
        service.scan()
        listed = service.client.get("/api/projects/p/tables").json()
        by_url = {t["url"]: t for t in listed}
        marked = [t["url"] for t in listed if t["is_latest"]]
        shown = CliRunner().invoke(app, ["table", "show", source.url], env=WIDE).output
        cli = next(line for line in shown.splitlines() if line.startswith("latest:"))
        return source.latest().url, by_url[source.url]["latest"], marked[0], cli.split()[-1]

    assert readers() == (newer.url,) * 4
    monkeypatch.setattr(format, "newest", _oldest)  # the rule changes in its one home …
    assert readers() == (older.url,) * 4  # … and every reader follows


def test_revision_folders_are_named_by_the_format_rule_everywhere(
    root: Path, start_service: StartService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(format, "REVISION_SEPARATOR", "_")
    source = tercet.Table.create({"x": np.arange(5)}, project="p", dataset="d", name="train")
    edited = source.set_values("x", [1], [10]).delete_rows([2])
    assert storage.basename(edited.url).startswith("train_")
    assert source.latest() == edited and edited.table_name == "train"
    service = start_service()
    service.scan()
    listed = service.client.get("/api/projects/p/tables").json()
    assert {t["table"] for t in listed} == {"train"}
    assert [t["url"] for t in listed if t["is_latest"]] == [edited.url]

    # Imported where another table of that name lives, it is renamed with all its revisions.
    bundle = tmp_path / "b.tercet"
    share.export_bundle([edited.url], str(bundle))
    tercet.Table.create({"y": np.arange(3)}, project="q", dataset="d", name="train")
    share.import_bundle(str(bundle), project="q", rename=True)
    tables = storage.ls(storage.join(str(root), "q", "datasets", "d", "tables"))
    renamed = [n for n in tables if format.table_of(n) == "train-2"]
    assert len(renamed) == 3 and all("_" in n for n in renamed if n != "train-2")
    copy = tercet.Table.open(storage.join(str(root), "q", "datasets", "d", "tables", "train-2"))
    assert copy.latest().to_arrow().equals(edited.to_arrow())
