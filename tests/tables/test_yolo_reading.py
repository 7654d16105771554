"""The fast paths of a YOLO import: image sizes from one header read, the folder listing from
``os.scandir``, and large splits read by forked processes. Each must give what the slow path
gives: imagesize's sizes, ``storage.walk_files``' listing, the single-process objects and errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import imagesize  # type: ignore[import-untyped]
import numpy as np
import pytest
from PIL import Image

from tercet import storage
from tercet.errors import FormatError
from tercet.localfile import TMP_PREFIX
from tercet.tables.importers import common, yolo_files
from tercet.tables.importers.yolo import list_images


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("headers")
    im = Image.new("RGB", (64, 48), "gray")
    rotated = Image.Exif()
    rotated[0x0112] = 6  # a quarter turn: shown 48 wide, 64 high
    saves: dict[str, dict[str, Any]] = {
        "plain.png": {},
        "tall.png": {"size": (3, 70_000)},
        "baseline.jpg": {},
        "progressive.jpg": {"progressive": True},
        "grey.jpg": {"mode": "L"},
        "rotated.jpg": {"exif": rotated.tobytes()},
        "icc.jpg": {"icc_profile": b"x" * 9000},  # the frame header lies beyond the first read
        "plain.gif": {},
        "plain.webp": {},
    }
    out = {}
    for name, opts in saves.items():
        size, mode = opts.pop("size", None), opts.pop("mode", None)
        img = Image.new("L", size) if size else im.convert(mode) if mode else im
        img.save(d / name, **opts)
        out[name] = d / name
    return out


def test_header_sizes_agree_with_imagesize(images: dict[str, Path]) -> None:
    for name, path in images.items():
        assert common.image_size(str(path)) == imagesize.get(str(path)), name
    assert common.image_size(str(images["rotated.jpg"])) == (48, 64)
    assert common.image_size(str(images["tall.png"])) == (3, 70_000)


def test_only_png_and_plain_jpeg_take_the_fast_path(images: dict[str, Path]) -> None:
    fast = {n for n, p in images.items() if common._local_header_size(str(p)) is not None}
    # EXIF may rotate (imagesize applies it); a frame header past 4 KiB, GIF and WebP are left
    # to imagesize too.
    assert fast == {"plain.png", "tall.png", "baseline.jpg", "progressive.jpg", "grey.jpg"}
    assert common._local_header_size(str(images["baseline.jpg"])) == (64, 48)


def test_a_damaged_header_is_left_to_the_slow_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\x00\x00garbage")
    assert common._local_header_size(str(bad)) is None
    assert common._local_header_size(str(tmp_path / "missing.png")) is None


def test_listing_matches_walk_files(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    for rel in (
        "z.jpg",
        "a/1.PNG",
        "b/2.jpeg",
        "b/deep/3.png",
        "b/notes.txt",
        f"a/{TMP_PREFIX}x.png",
    ):
        (root / rel).write_bytes(b"")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "9.png").write_bytes(b"")
    os.symlink(elsewhere, root / "linked")  # not entered, as os.walk does not
    listed = yolo_files.local_images(str(root))
    walked = sorted(
        f for f in storage.walk_files(str(root)) if f.lower().endswith(common.IMAGE_SUFFIXES)
    )
    assert listed == walked
    assert [Path(p).relative_to(root).as_posix() for p in listed] == [
        "a/1.PNG", "b/2.jpeg", "b/deep/3.png", "z.jpg",
    ]  # fmt: skip
    assert yolo_files.local_images(str(tmp_path / "missing")) == []


def _split(tmp_path: Path, n: int, bad_at: int | None = None) -> list[str]:
    imgs, labels = tmp_path / "images" / "train", tmp_path / "labels" / "train"
    imgs.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(n):
        Image.new("L", (10 + i, 20 + i)).save(imgs / f"{i:03d}.png")
        if i % 5 == 4:
            continue  # no label file: no objects
        lines = "".join(f"{(i + k) % 3} .5 .5 .{k + 1} .2\n" for k in range(i % 3 + 1))
        if i == bad_at:
            lines += "\n1 .5 .5 x .2\n"
        (labels / f"{i:03d}.txt").write_text(lines)
    return list_images([str(imgs)])


def test_processes_give_what_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _split(tmp_path, 23)
    one, one_sizes = yolo_files._read_and_parse(paths, threads=False)
    monkeypatch.setattr(yolo_files, "PROCESS_MIN", 4)
    assert yolo_files._process_count(paths) == min(len(os.sched_getaffinity(0)), 8)
    if yolo_files._process_count(paths) < 2:
        monkeypatch.setattr(yolo_files, "_process_count", lambda images: 2)
    many, sizes = yolo_files.read_split(paths)
    for field in ("counts", "arity", "lines", "values", "starts"):
        np.testing.assert_array_equal(getattr(many, field), getattr(one, field), err_msg=field)
    np.testing.assert_array_equal(sizes, one_sizes)
    assert sizes[22].tolist() == [32, 42]
    assert many.counts.sum() > 0 and many.starts[-1] == len(many.values) - 5


def test_a_bad_line_read_by_a_process_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _split(tmp_path, 23, bad_at=17)
    monkeypatch.setattr(yolo_files, "PROCESS_MIN", 4)
    monkeypatch.setattr(yolo_files, "_process_count", lambda images: 2)
    with pytest.raises(FormatError, match=r"labels/train/017\.txt:5: 'x' is not a number\.$"):
        yolo_files.read_split(paths)
