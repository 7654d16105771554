# Over 400 lines: the format's rules by value and the proof every reader asks them, in one place.
"""The on-disk format's rules (tercet.format), and proof that every reader asks them.

The last tests change a rule in :mod:`tercet.format` and watch the library, the service (over
HTTP), the CLI and ``tercet share`` follow: a reader with its own copy of the rule would not.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tercet
from tercet import format, share, storage
from tercet.cli import app
from tercet.errors import CorruptObjectError, InvalidNameError, RunError
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
            # Times often tie (one clock tick); ids are unique, as real revision ids are.
            revs.append(R(f"r{i}", parent, f"{rng.randint(0, 30):04d}", f"{rng.randint(0, 9)}-{i}"))
        each = format.latest_of_each(revs)
        expected = {r.url: _by_definition(r, revs) for r in revs}
        assert each == expected
        # A listing comes in any order: children before parents gives the same answer.
        assert format.latest_of_each(reversed(revs)) == expected
        assert format.latest_of_each(rng.sample(revs, len(revs))) == expected
        assert {r.url: format.latest_leaf(r, revs).url for r in revs} == expected


def test_a_chain_of_ten_thousand_revisions_needs_no_recursion() -> None:
    revs = [R("r0", None, "0", "0")] + [
        R(f"r{i}", f"r{i - 1}", str(i), "0") for i in range(1, 10_000)
    ]
    assert format.latest_of_each(revs)["r0"] == "r9999"


def test_looping_parent_links_end() -> None:
    x, y = R("x", "y", "1", "1"), R("y", "x", "2", "2")
    assert format.latest_of_each([x, y]) == {"x": "y", "y": "y"}
    assert format.latest_of_each([y, x]) == {"x": "x", "y": "x"}
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


# -- each rule by value (what `make mutate` found untested) ----------------------------------------
WHEN = datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=UTC)
REV = "/p/datasets/d/tables/train.20261130T090000123456-abc123"


def test_names_are_checked_and_the_error_says_which_name() -> None:
    assert format.check_name("a" * 128) == "a" * 128
    assert format.check_name("A0._-") == "A0._-"
    for bad in ("a" * 129, "", "-a", ".a", "a/b", "a..b", "a b", None):
        with pytest.raises(InvalidNameError) as error:
            format.check_name(bad, "dataset")  # type: ignore[arg-type]
        assert str(error.value) == (
            f"Dataset {bad!r} is not valid: use 1–128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it becomes a folder name)."
        )
    with pytest.raises(InvalidNameError, match=r"^Name 'a/b' is not valid"):
        format.check_name("a/b")


def test_display_names_are_checked_and_the_error_says_which_name() -> None:
    for good in ("My table", "数据", "x", "x" * 128, "a.b", "a..b", "-a"):
        assert format.check_display_name(good) == good
    for bad in ("x" * 129, "", "   ", "a\tb", "a/b", "a\\b", ".a", "..", None):
        with pytest.raises(InvalidNameError) as error:
            format.check_display_name(bad, "run")  # type: ignore[arg-type]
        assert str(error.value) == (
            f"Run {bad!r} is not valid: use 1–128 printable characters without '/' or '\\', "
            "not starting with '.'."
        )
    with pytest.raises(InvalidNameError, match=r"^Name '' is not valid"):
        format.check_display_name("")


def test_slugs_by_value() -> None:
    assert format.slug("train") == "train"  # a valid folder name keeps its folder
    assert format.slug("My table") == "My-table"
    assert format.slug("a -- b") == "a-b"  # a run of other characters with its dashes: one dash
    assert format.slug("a - b") == "a-b"
    assert format.slug("Café au lait") == "Cafe-au-lait"
    assert format.slug("a..b") == "a.b" and format.slug("a...b c") == "a.b-c"
    assert format.slug("-x y-") == "x-y" and format.slug("x y.") == "x-y"
    assert format.slug("X y") == "X-y" and format.slug("y X") == "y-X"  # only - and . go
    assert format.slug("\ufb01" * 100) == "fi" * 64  # "ﬁ" becomes "fi": cut to 128 after
    assert format.slug("\ufb01" * 63 + "x -y") == "fi" * 63 + "x"  # cut, then the dash goes
    hashed = "n-" + hashlib.sha256("数据".encode()).hexdigest()[:8]
    assert format.slug("数据") == hashed and format.slug("_a b") != "_a-b"
    assert format.slug("_a b").startswith("n-")
    with pytest.raises(InvalidNameError, match=r"^Table 'a/b' is not valid"):
        format.slug("a/b", "table")


def test_stamps_and_revision_names_by_value() -> None:
    assert format.stamp(WHEN) == "20261130T090000123456"
    assert re.fullmatch(r"20261130T090000123456-[0-9a-f]{6}", format.unique_suffix(WHEN))
    assert format.unique_suffix(WHEN) != format.unique_suffix(WHEN)  # writers do not clash
    assert re.fullmatch(
        r"train\.20261130T090000123456-[0-9a-f]{6}", format.revision_name("train", WHEN)
    )
    before = datetime.now(UTC)
    assert format.now().tzinfo is UTC and before <= format.now() <= datetime.now(UTC)
    assert (
        before.strftime("%Y%m%dT%H")
        <= format.stamp()
        <= datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    )
    assert format.time_of_name("20261130T090000123456") == "2026-11-30T09:00:00.123456+00:00"
    assert format.time_of_name("2026113") is None
    assert format.table_of("train.20261130T090000123456-abc123") == "train"
    assert format.table_of("a.b.c") == "a" and format.table_of("train") == "train"
    assert format.is_revision_of("train", "train")
    assert format.is_revision_of("train.x", "train") and not format.is_revision_of(
        "trainx", "train"
    )
    assert not format.is_revision_of("train", "train.x")


def test_where_objects_live_by_value() -> None:
    assert format.object_folder("/p/runs/r") == "/p/runs/r"
    assert format.object_folder("s3://b/p/runs/r/object.json") == "s3://b/p/runs/r"
    assert format.descriptor_url("s3://b/p/runs/r") == "s3://b/p/runs/r/object.json"
    assert format.tables_folder("s3://b/p", "My data") == "s3://b/p/datasets/My-data/tables"
    assert format.runs_folder("s3://b/p") == "s3://b/p/runs"
    assert format.project_of(REV, "table") == "/p"
    assert format.project_of("s3://b/p/runs/r", "run") == "s3://b/p"
    assert format.dataset_of(REV) == "d"
    assert format.dataset_of("s3://b/p/datasets/My-data/tables/t") == "My-data"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("p/datasets/d/tables/t", "table"),
        ("p/runs/r", "run"),
        ("p/runs", None),
        ("p/datasets/d/tables/t/rows", None),
        ("p/data/d/tables/t", None),
        ("p/datasets/d/files/t", None),
        ("p/runz/r", None),
        ("p/datasets/../tables/t", None),
        ("p/datasets/d/tables/a..b", None),
        ("../runs/r", None),
        ("p/runs/.r", None),
        ("p/datasets/-d/tables/t", None),
    ],
)
def test_object_kind_by_shape_and_names(path: str, kind: str | None) -> None:
    assert format.object_kind(path) == kind


def test_containing_object_by_value() -> None:
    assert format.containing_object("p/runs/r/x") == "p/runs/r"
    assert format.containing_object("p/datasets/d/tables/t/x") == "p/datasets/d/tables/t"
    assert format.containing_object("p/datasets/d/tables/t") is None
    assert format.containing_object("p/datasets/d/files/t/x") is None
    assert format.containing_object("p/runz/r/x") is None
    assert format.containing_object("p/runs") is None


def test_references_by_value_and_the_error_names_file_and_field() -> None:
    assert format.check_reference("rows/a.parquet", REV, "table", "rows") == f"{REV}/rows/a.parquet"
    assert (
        format.check_reference("../train", REV, "table", "parent") == "/p/datasets/d/tables/train"
    )
    assert format.check_reference("<DATA>/x", REV, "run", "table") == "<DATA>/x"
    assert format.check_reference("s3://b/x", REV, "run", "table") == "s3://b/x"
    cases = [
        (None, "rows", rf"^{REV}/object.json: 'rows' is None, not a URL\.$"),
        (" ", "rows", r"'rows' is ' ', not a URL"),
        ("a\x00b", "delta", r"'delta' is 'a\\x00b', not a URL"),
        ("/etc/x", "rows", r"'rows' is '/etc/x', but it must be a path relative to the object\. "),
        ("<A>/x", "parent", r"relative to the object in its project\. Tercet never writes"),
        (".", "delta", rf"'delta' is '\.', which leads to {REV}, outside its object's folder\."),
        ("../x", "rows", r"leads to /p/datasets/d/tables/x, outside its object's folder"),
        ("../../../../../q/x", "parent", r"leads to /q/x, outside its project /p\. Tercet"),
    ]
    for stored, field, message in cases:
        with pytest.raises(CorruptObjectError, match=message):
            format.check_reference(stored, REV, "table", field)  # type: ignore[arg-type]
    with pytest.raises(CorruptObjectError, match=r"^/p/runs/r/m\.parquet: 'table' is '', not"):
        format.check_reference("", "/p/runs/r", "run", "table", "/p/runs/r/m.parquet")
    # The project of a run is one level up, not four.
    assert format.check_reference("../x", "/p/runs/r", "run", "derived_from") == "/p/runs/x"


TAMPERED = (
    "Tercet never writes such a reference: the object was made by hand or tampered with; remove "
    "it or restore it from a copy."
)


@pytest.mark.parametrize(
    ("stored", "field", "message"),
    [
        ("", "rows", f"{REV}/object.json: 'rows' is '', not a URL."),
        (
            "/etc/x",
            "rows",
            f"{REV}/object.json: 'rows' is '/etc/x', but it must be a path relative to the "
            f"object. {TAMPERED}",
        ),
        (
            "<A>/x",
            "parent",
            f"{REV}/object.json: 'parent' is '<A>/x', but it must be a path relative to the "
            f"object in its project. {TAMPERED}",
        ),
        (
            "../x",
            "delta",
            f"{REV}/object.json: 'delta' is '../x', which leads to /p/datasets/d/tables/x, "
            f"outside its object's folder. {TAMPERED}",
        ),
        (
            "../../../../../q",
            "parent",
            f"{REV}/object.json: 'parent' is '../../../../../q', which leads to /q, outside its "
            f"project /p. {TAMPERED}",
        ),
    ],
)
def test_a_refused_reference_says_where_what_and_what_to_do(
    stored: str, field: format.ReferenceField, message: str
) -> None:
    with pytest.raises(CorruptObjectError) as err:
        format.check_reference(stored, REV, "table", field)
    assert str(err.value) == message


def test_descriptor_formats_by_value() -> None:
    ok: dict[str, object] = {"format": "tercet.run", "format_version": 1}
    assert format.check_format(ok, "w", "run", "tercet.run", 1) is ok
    assert format.check_format({**ok, "format_version": 0}, "w", "run", "tercet.run", 1)
    assert format.check_descriptor("run", ok, "w") is ok
    bad: object
    for bad in ([], {"format_version": 1}, {**ok, "format": "tercet.table"}):
        with pytest.raises(
            RunError, match=r"^w is not a Tercet run descriptor \(no 'format': 'tercet.run'\)\. X$"
        ):
            format.check_format(bad, "w", "run", "tercet.run", 1, RunError, " X")
    for version in ("1", None, 2):
        with pytest.raises(
            CorruptObjectError,
            match=rf"^w has run format_version {version!r}; this Tercet reads up to 1\. ",
        ):
            format.check_format({**ok, "format_version": version}, "w", "run", "tercet.run", 1)
    with pytest.raises(CorruptObjectError, match=r"^w is not a Tercet table descriptor"):
        format.check_descriptor("table", ok, "w")
    table = {"format": "tercet.table", "format_version": 1, "id": "i", "name": "n", "schema": {}}
    with pytest.raises(
        CorruptObjectError, match=r"^w lacks the keys \['table', 'created', 'num_rows'\]\.$"
    ):
        format.check_descriptor("table", table, "w")
    full = {**table, "table": "t", "created": "c", "num_rows": 0}
    assert format.check_descriptor("table", full, "w") is full
    with pytest.raises(RunError, match="lacks the keys"):
        format.check_descriptor("table", table, "w", RunError)


def test_new_descriptors_by_value() -> None:
    assert format.table_descriptor(
        id="i", table="t", name="n", project="p", dataset="d", created=WHEN, parent="../s",
        message="m", num_rows=3, schema={"x": 1},
    ) == {
        "format": "tercet.table", "format_version": 1, "id": "i", "table": "t", "name": "n",
        "project": "p", "dataset": "d", "created": "2026-11-30T09:00:00.123456+00:00",
        "parent": "../s", "message": "m", "num_rows": 3, "schema": {"x": 1},
    }  # fmt: skip
    params = {"lr": 0.1}
    run = format.run_descriptor(id="i", name="n", project="p", created=WHEN, parameters=params)
    assert run == {
        "format": "tercet.run", "format_version": 1, "id": "i", "name": "n", "project": "p",
        "created": "2026-11-30T09:00:00.123456+00:00", "parameters": {"lr": 0.1},
    }  # fmt: skip
    assert run["parameters"] is not params
    rule = {"op": "split"}
    made = format.derived_from("../s", rule)
    assert made == {"revision": "../s", "rule": {"op": "split"}} and made["rule"] is not rule


def test_times_from_the_future_by_value() -> None:
    at = WHEN
    edge = (at + format.SKEW_TOLERANCE).isoformat()
    assert not format.is_from_future(edge, at)  # exactly the tolerance is still honest
    assert format.is_from_future((at + format.SKEW_TOLERANCE + timedelta(microseconds=1)), at)
    assert format.is_from_future("2026-11-30T09:05:01", at)  # naive text is UTC
    assert not format.is_from_future("2026-11-30T09:05:00", at)
    assert format.is_from_future(datetime(2026, 11, 30, 9, 5, 1), at)  # naive datetime: UTC too
    assert not format.is_from_future("2026-11-30T10:00:00+02:00", at)
    assert format.is_from_future("2026-11-30T09:00:01", at, timedelta(0))
    assert not format.is_from_future("not a time", at) and not format.is_from_future(None, at)  # type: ignore[arg-type]
    assert format.is_from_future(datetime.now(UTC) + timedelta(minutes=6))  # default: now
    assert not format.is_from_future(datetime.now(UTC) + timedelta(minutes=4))


def test_claimed_times_and_rank_by_value() -> None:
    stored = WHEN.timestamp()
    honest = R("u", None, "2026-11-30T09:05:00.123456+00:00", "i", stored)
    assert format.claimed_time(honest) == honest.created  # at the tolerance: its own time
    ahead = honest._replace(created="2026-11-30T09:05:00.123457+00:00")
    assert format.claimed_time(ahead) == "2026-11-30T09:00:00.123456+00:00"
    assert (
        format.claimed_time(honest._replace(created="junk")) == "2026-11-30T09:00:00.123456+00:00"
    )
    assert format.claimed_time(honest._replace(created="junk", stored=None)) == "junk"
    assert format.rank(honest, WHEN) == (True, honest.created, "i")
    future = R("f", None, "2027-01-01T00:00:00+00:00", "z")
    assert format.rank(future, WHEN) == (False, "2027-01-01T00:00:00+00:00", "z")
    assert format.newest([future, R("o", None, "2000-01-01T00:00:00+00:00", "a")]).url == "o"
    naive = honest._replace(created="2026-11-30T09:05:00")  # no zone: UTC
    assert format.claimed_time(naive) == "2026-11-30T09:05:00"
    assert format.claimed_time(naive._replace(created="2026-11-30T09:05:01")) == (
        "2026-11-30T09:00:00.123456+00:00"
    )
    late = R("l", None, "2026-11-30T09:10:00+00:00", "z")  # from the future as of `at`
    assert format.rank(late, WHEN)[0] is False
    assert format.newest_leaf([]) is None
    src = R("s", None, "1", "a")
    assert format.newest_leaf([src, R("x", "s", "0", "a")]).url == "x"  # type: ignore[union-attr]
