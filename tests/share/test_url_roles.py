"""Every file-URL role travels with a bundle, not only ``image``: semantic masks (PNG files named
by URL, like images) are counted in the manifest's aliases and copied by ``--include-data``."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from PIL import Image

import tercet
from tercet import config, share
from tercet.schema import URL_ROLES
from tests.share.machines import use_machine, write_images

N = 4


def _table_with_masks(home: Path, monkeypatch: pytest.MonkeyPatch) -> tercet.Table:
    """Images under <PROJECT_DATA>, masks under their own alias <MASKS>, in two other folders."""
    use_machine(monkeypatch, home)
    write_images(home / "images", N)
    masks = home / "masks"
    masks.mkdir()
    for i in range(N):
        Image.new("L", (4, 4), i + 1).save(masks / f"{i}.png")
    config.save_file_values(
        {"aliases.PROJECT_DATA": str(home / "images"), "aliases.MASKS": str(masks)}
    )
    table = tercet.Table.create(
        {
            "image": [str(home / "images" / "img" / f"{i}.png") for i in range(N)],
            "mask": [str(masks / f"{i}.png") for i in range(N)],
        },
        project="seg",
        dataset="street",
        name="train",
        roles={"image": "image", "mask": "semantic_mask"},
    )
    assert table.rows[1]["mask"] == "<MASKS>/1.png"  # stored through the alias
    return table


def test_semantic_mask_is_a_url_role() -> None:
    assert {"image", "semantic_mask"} <= set(URL_ROLES)


def test_semantic_mask_files_travel_with_include_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table_with_masks(tmp_path / "A", monkeypatch)
    bundle = str(tmp_path / "seg.tercet")
    manifest = share.export_bundle([table.url], bundle, include_data=True)
    assert manifest["aliases"]["MASKS"]["included"] is True
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert sum(n.endswith(tuple(f"data/MASKS/{i}.png" for i in range(N))) for n in names) == N
    shutil.rmtree(tmp_path / "A")  # machine A and its files are gone

    root = use_machine(monkeypatch, tmp_path / "B")
    result = share.import_bundle(bundle)

    assert result.aliases == {}
    assert {o["status"] for o in result.objects} == {"imported"}
    imported = tercet.Table.open(project="seg", dataset="street", name="train")
    mask_url = imported.rows[2]["mask"]
    assert mask_url.endswith("data/MASKS/2.png") and not mask_url.startswith("<")
    path = root / "seg" / "data" / "MASKS" / "2.png"
    assert Image.open(path).getpixel((0, 0)) == 3  # mask 2 holds class 3, byte for byte


def test_semantic_mask_alias_is_required_without_include_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table_with_masks(tmp_path / "A", monkeypatch)
    manifest = share.export_bundle([table.url], str(tmp_path / "seg.tercet"))
    assert manifest["aliases"]["MASKS"]["value"] == str(tmp_path / "A" / "masks")
    assert manifest["aliases"]["MASKS"]["included"] is False
