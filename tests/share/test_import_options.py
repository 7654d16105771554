"""Import options: renaming on a clash, relativized and absolutized data URLs, and data
URLs inside deltas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tercet
from tercet import share
from tercet.errors import ShareError
from tests.share.machines import train_on_a, use_machine, write_images


def test_clashing_names_fail_unless_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = train_on_a(tmp_path / "A", monkeypatch)
    bundle = str(tmp_path / "a.tercet")
    share.export_bundle([a.run], bundle, include_data=True)
    # Machine B trained its own "baseline" on its own "train" table: same names, other objects.
    b = train_on_a(tmp_path / "B", monkeypatch)
    before = sorted(p for p in (tmp_path / "B" / "root").rglob("*"))
    with pytest.raises(ShareError, match=r"different .* exists.*--rename.*--project"):
        share.import_bundle(bundle)
    assert sorted(p for p in (tmp_path / "B" / "root").rglob("*")) == before

    result = share.import_bundle(bundle, rename=True)

    renamed = {o["renamed_from"]: o["url"] for o in result.objects}
    run = tercet.Run.open(renamed["demo/runs/baseline"])
    assert run.name == "baseline-2" and tercet.Run.open(b.run).name == "baseline"
    table = tercet.Table.open(run.inputs[0]["table"])
    assert table.table_name == "train-2" and table.id == a.revision.id
    assert table.parent is not None and table.parent.name == "train-2"
    assert table.lineage()[0].id == a.source.id
    assert table[0]["image"].size == (4, 4)
    assert run.metrics("train").num_rows == 6


def test_relativize_under_and_absolutize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_machine(monkeypatch, tmp_path / "A")
    data = tmp_path / "A" / "scratch"
    write_images(data, 3)
    table = tercet.Table.create(
        {"image": [str(data / "img" / f"{i}.png") for i in range(3)]},
        project="demo",
        dataset="d",
        name="t",
        roles={"image": "image"},
    )
    plain = share.export_bundle([table.url], str(tmp_path / "plain.tercet"))
    assert plain["absolute"] == [
        {
            "folder": str(data / "img"),
            "files": 3,
            "example": str(data / "img" / "0.png"),
            "included": False,
        }
    ]
    bundle = str(tmp_path / "rel.tercet")
    manifest = share.export_bundle([table.url], bundle, relativize_under={str(data): "SCRATCH"})
    assert manifest["absolute"] == []
    assert manifest["aliases"]["SCRATCH"]["value"] == str(data)

    target = tmp_path / "B" / "scratch-copy"
    shutil.copytree(data, target)
    root = use_machine(monkeypatch, tmp_path / "B")
    share.import_bundle(bundle, aliases={"SCRATCH": str(target)}, absolutize=True, project="p2")
    imported = tercet.Table.open(str(root / "p2" / "datasets" / "d" / "tables" / "t"))
    assert imported.rows[1]["image"] == str(target / "img" / "1.png")
    assert imported[1]["image"].size == (4, 4)


def test_inline_and_parquet_deltas_of_image_columns_are_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_machine(monkeypatch, tmp_path / "A")
    data = tmp_path / "A" / "data"
    write_images(data, 300)
    tercet.aliases.set("PROJECT_DATA", str(data))
    paths = [str(data / "img" / f"{i}.png") for i in range(300)]
    source = tercet.Table.create(
        {"image": paths[:2] * 150}, project="demo", dataset="d", name="t", roles={"image": "image"}
    )
    inline = source.set_values("image", [0], ["<PROJECT_DATA>/img/7.png"])
    big = inline.set_values(
        "image", list(range(300)), [f"<PROJECT_DATA>/img/{i}.png" for i in range(300)]
    )
    assert "file" in big.descriptor["delta"] and "set" in inline.descriptor["delta"]
    bundle = str(tmp_path / "d.tercet")
    manifest = share.export_bundle([big.url], bundle, include_data=True)
    assert manifest["aliases"]["PROJECT_DATA"]["files"] == 300
    shutil.rmtree(tmp_path / "A")
    root = use_machine(monkeypatch, tmp_path / "B")
    share.import_bundle(bundle)
    rev = tercet.Table.open(str(root / "demo" / "datasets" / "d" / "tables" / inline.name))
    assert rev.rows[0]["image"] == "../../../../data/PROJECT_DATA/img/7.png"
    assert rev[0]["image"].getpixel((0, 0)) == (140, 0, 0)
    last = tercet.Table.open(str(root / "demo" / "datasets" / "d" / "tables" / big.name))
    assert last[299]["image"].getpixel((0, 0)) == (299 * 20 % 256, 0, 0)
