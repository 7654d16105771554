"""Rewriting stored URLs: a sparse revision with only the changed URL cells; no match, no write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import tercet
from tercet.errors import AliasError, AliasNotSetError, SchemaError


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def images(tmp_path: Path) -> Path:
    moved = tmp_path / "new" / "data"
    moved.mkdir(parents=True)
    for name in ("a.png", "b.png"):
        Image.new("RGB", (3, 2)).save(moved / name)
    return tmp_path


def _table(images: Path) -> tercet.Table:
    old = images / "old" / "data"
    return tercet.Table.create(
        {
            "image": [f"{old}/a.png", f"{old}/b.png", f"{images}/other/c.png", f"{old}base/d.png"],
            "thumb": [f"{old}/a.png", "x.png", "y.png", "z.png"],
            "label": [0, 1, 0, 1],
        },
        project="p", dataset="d", name="t", roles={"image": "image", "thumb": "image"},
    )  # fmt: skip


def test_rewrite_to_an_alias_writes_only_the_changed_url_cells(images: Path) -> None:
    t = _table(images)
    project = t.project_url
    tercet.aliases.set_project_alias(project, "DATA", str(images / "new" / "data"))
    result = t.rewrite_urls(str(images / "old" / "data"), "<DATA>")
    assert result.changed == {"image": 2, "thumb": 1} and result.total == 3
    new = result.table
    assert new is not None and new.parent == t and t.latest() == new
    assert [r["image"] for r in new.rows][:2] == ["<DATA>/a.png", "<DATA>/b.png"]
    # Segment boundary: /old/database/… is not under /old/data.
    assert new.rows[3]["image"] == f"{images}/old/database/d.png"
    # The delta holds the URL columns only, and only the changed cells.
    delta = json.loads((Path(new.url) / "object.json").read_text())["delta"]
    assert set(delta["set"]) == {"image", "thumb"}
    assert delta["set"]["image"]["example_id"] == [0, 1] and delta["deleted"] == []
    # The rewritten table reads its images from where they are now.
    assert new.load_image(new.rows[1]["image"]).size == (3, 2)


def test_rewrite_matching_nothing_reports_zero_and_writes_nothing(images: Path, root: Path) -> None:
    t = _table(images)
    before = _files(root)
    result = t.rewrite_urls("/nowhere/at/all", "/else")
    assert result.table is None and result.changed == {"image": 0, "thumb": 0}
    assert _files(root) == before and t.latest() == t


def test_rewrite_refuses_an_unset_alias_or_a_non_url_column(images: Path, root: Path) -> None:
    t = _table(images)
    before = _files(root)
    with pytest.raises(AliasNotSetError, match="NOPE"):
        t.rewrite_urls(str(images / "old" / "data"), "<NOPE>")
    with pytest.raises(AliasError, match="not a valid alias name"):
        t.rewrite_urls(str(images / "old" / "data"), "<lower>")
    with pytest.raises(SchemaError, match="'label' holds int64, not URLs"):
        t.rewrite_urls("/a", "/b", columns=["label"])
    assert _files(root) == before


def test_project_aliases_are_set_listed_and_unset_through_the_api(root: Path) -> None:
    project = tercet.project_url("p")
    tercet.aliases.set_project_alias(project, "DATA", "/mnt/data/")
    tercet.aliases.set_project_alias(project, "MODELS", "s3://bucket/models")
    text = (root / "p" / "aliases.yaml").read_text()
    assert text == "DATA: /mnt/data\nMODELS: s3://bucket/models\n"
    assert tercet.aliases.list(project)["DATA"][0] == "/mnt/data"
    assert tercet.aliases.unset_project_alias(project, "DATA") is True
    assert tercet.aliases.unset_project_alias(project, "DATA") is False
    assert tercet.aliases.project_aliases(project) == {"MODELS": "s3://bucket/models"}
    with pytest.raises(AliasError, match="cannot itself be an alias"):
        tercet.aliases.set_project_alias(project, "X", "<MODELS>/x")
    assert (root / "p" / "aliases.yaml").read_text() == "MODELS: s3://bucket/models\n"
