"""Tables found by name and safe to re-run: display names, slugs, ``if_exists``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tercet
from tercet import format
from tercet.errors import InvalidNameError, ObjectExistsError, ObjectNotFoundError, SchemaError


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("train", "train"),  # a valid folder name is its own slug: old tables keep their folders
        ("a--b_c.d", "a--b_c.d"),
        ("3LC Tutorials - MNIST", "3LC-Tutorials-MNIST"),
        ("Café crème", "Cafe-creme"),
        ("  spaced  out ", "spaced-out"),
        ("v1...final", "v1.final"),
        ("数据", "n-" + "0" * 8),  # replaced below: a hash of the name
    ],
)
def test_slug_is_a_deterministic_valid_folder_name(name: str, folder: str) -> None:
    got = format.slug(name)
    if folder.startswith("n-"):
        assert got.startswith("n-") and len(got) == 10 and got == format.slug(name)
    else:
        assert got == folder
    assert format.slug(got) == got and format.check_name(got) == got


@pytest.mark.parametrize("bad", ["", "   ", "a/b", "a\\b", ".hidden", "tab\there", "x" * 129])
def test_names_that_cannot_be_display_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidNameError, match="not valid"):
        format.slug(bad)


def test_display_names_are_kept_and_lookup_works_with_either_name(root: Path) -> None:
    t = tercet.Table.create(
        {"x": [1, 2]}, project="3LC Tutorials - MNIST", dataset="Digits (v2)", name="My Table"
    )
    assert t.url == str(root / "3LC-Tutorials-MNIST/datasets/Digits-v2/tables/My-Table")
    assert (t.display_name, t.table_name, t.project, t.dataset) == (
        "My Table", "My-Table", "3LC-Tutorials-MNIST", "Digits-v2"
    )  # fmt: skip
    stored = json.loads((Path(t.url) / "object.json").read_text())
    assert stored["display_names"] == {
        "project": "3LC Tutorials - MNIST", "dataset": "Digits (v2)", "table": "My Table"
    }  # fmt: skip
    by_display = tercet.Table.open(
        project="3LC Tutorials - MNIST", dataset="Digits (v2)", name="My Table"
    )
    by_folder = tercet.Table.open(
        project="3LC-Tutorials-MNIST", dataset="Digits-v2", name="My-Table"
    )
    assert by_display == by_folder == t
    # An edit keeps the names; the table's latest is found through either.
    edited = t.set_values("x", [0], [5])
    assert by_display.latest() == edited


def test_names_that_share_a_slug_are_a_clear_error(root: Path) -> None:
    t = tercet.Table.create({"x": [1]}, project="p", dataset="d", name="My Table")
    before = _files(root)
    for other in ("My  Table", "My?Table", "my table".title().replace("Table", "Table!")):
        with pytest.raises(InvalidNameError, match="collides with the existing table 'My Table'"):
            tercet.Table.create({"x": [1]}, project="p", dataset="d", name=other)
        with pytest.raises(ObjectNotFoundError, match="holds the table 'My Table'"):
            tercet.Table.open(project="p", dataset="d", name=other)
    # The folder name is the table's other name: it exists, and it opens.
    with pytest.raises(ObjectExistsError, match="'My-Table' already exists"):
        tercet.Table.create({"x": [1]}, project="p", dataset="d", name="My-Table")
    assert tercet.Table.open(project="p", dataset="d", name="My-Table") == t
    assert _files(root) == before


def test_open_by_name_says_what_is_there() -> None:
    tercet.Table.create({"x": [1]}, project="p", dataset="d", name="train")
    tercet.Table.create({"x": [1]}, project="p", dataset="d", name="val")
    with pytest.raises(ObjectNotFoundError, match="No table 'test'.*Tables there: train, val"):
        tercet.Table.open(project="p", dataset="d", name="test")
    with pytest.raises(TypeError, match="missing: dataset"):
        tercet.Table.open(project="p", name="train")


def test_if_exists_error_reuse_and_new(root: Path) -> None:
    data = {"x": [1.0, 2.0], "label": [0, 1]}
    maps = {"label": ["cat", "dog"]}
    first = tercet.Table.create(data, project="p", dataset="d", name="t", value_maps=maps)
    with pytest.raises(ObjectExistsError, match="if_exists='reuse'"):
        tercet.Table.create(data, project="p", dataset="d", name="t", value_maps=maps)
    before = _files(root)
    again = tercet.Table.create(
        data, project="p", dataset="d", name="t", value_maps=maps, if_exists="reuse"
    )
    assert again == first and _files(root) == before
    fresh = tercet.Table.create(
        data, project="p", dataset="d", name="t", value_maps=maps, if_exists="new"
    )
    assert fresh.table_name == "t-2" and fresh != first
    third = tercet.Table.create(data, project="p", dataset="d", name="t", if_exists="new")
    assert third.table_name == "t-3"


def test_reuse_with_another_schema_says_what_differs(root: Path) -> None:
    tercet.Table.create({"x": [1.0], "label": [0]}, project="p", dataset="d", name="t",
                        value_maps={"label": ["cat", "dog"]})  # fmt: skip
    before = _files(root)
    with pytest.raises(SchemaError) as info:
        tercet.Table.create(
            {"x": ["a"], "label": [0], "extra": [1]}, project="p", dataset="d", name="t",
            value_maps={"label": ["cat", "cow"]}, if_exists="reuse",
        )  # fmt: skip
    message = str(info.value)
    assert "column 'extra' is in the new data but not in the existing table" in message
    assert "column 'x': type double in the table, string in the data" in message
    assert "column 'label': its value map differs" in message
    assert _files(root) == before


def test_reuse_works_for_streamed_importers(tmp_path: Path, root: Path) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    first = tercet.Table.from_csv(str(csv), project="p", dataset="d", name="csv")
    before = _files(root)
    again = tercet.Table.from_csv(str(csv), project="p", dataset="d", name="csv", if_exists="reuse")
    assert again == first and _files(root) == before


def test_unknown_if_exists_is_refused() -> None:
    with pytest.raises(tercet.TercetError, match="'error', 'reuse', 'new'"):
        tercet.Table.create({"x": [1]}, project="p", dataset="d", name="t", if_exists="replace")


def test_runs_open_by_project_and_name() -> None:
    run = tercet.Run.create(project="My Project", name="baseline")
    run.close()
    assert tercet.Run.open(project="My Project", name="baseline") == run
    assert tercet.Run.open(project="My-Project", name="baseline") == run
    assert run.project == "My-Project"  # the descriptor holds folder names, as share checks
    with pytest.raises(ObjectNotFoundError, match="No run"):
        tercet.Run.open(project="My Project", name="other")


def test_a_new_name_gets_its_own_image_files() -> None:
    from PIL import Image

    def dataset(shade: int) -> list[tuple[Image.Image, int]]:
        return [(Image.new("L", (2, 2), shade), 0)]

    first = tercet.Table.from_torch_dataset(dataset(10), project="p", dataset="d", name="toy")
    second = tercet.Table.from_torch_dataset(
        dataset(200), project="p", dataset="d", name="toy", if_exists="new"
    )
    assert second.table_name == "toy-2"
    assert second.rows[0]["image"] == "../../files/toy-2/0000000.png"
    assert first[0]["image"].getpixel((0, 0)) == 10
    assert second[0]["image"].getpixel((0, 0)) == 200


def test_the_streaming_writer_takes_if_exists_too(root: Path) -> None:
    with tercet.TableWriter(project="p", dataset="d", name="Stream") as w:
        w.write({"x": [1, 2]})
    first = w.table
    before = _files(root)
    with tercet.TableWriter(project="p", dataset="d", name="Stream", if_exists="reuse") as again:
        again.write({"x": [3]})
    assert again.table == first and _files(root) == before
