"""The bundle's tar writer: any name, any size, readable by tarfile and GNU tar."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tercet.share import tarstream

NAMES = [
    "bundle.json",
    "objects/demo/data/PROJECT_DATA/img/0.png",
    "objects/" + "deep/" * 25 + "file.png",  # over 100 bytes: split into ustar prefix + name
    "objects/" + "x" * 120 + ".png",  # no split fits: pax header
    "objects/demo/data/PROJECT_DATA/größe/ünïcode.png",  # non-ASCII: pax header
]


def write(path: Path, members: list[tuple[str, bytes]]) -> None:
    with path.open("wb") as out:
        tar = tarstream.TarWriter(out, mtime=1_700_000_000, buffer=4096)
        for i, (name, data) in enumerate(members):
            if i % 2:
                tar.add_stream(name, len(data), io.BytesIO(data), chunk=1000)
            else:
                tar.add_framed(tarstream.framed(name, data, tar.mtime))
        tar.close()


def test_members_round_trip_through_tarfile(tmp_path: Path) -> None:
    members = [(name, bytes([i]) * (i * 700)) for i, name in enumerate(NAMES)]
    path = tmp_path / "t.tar"
    write(path, members)
    assert path.stat().st_size % tarstream.RECORD == 0
    with tarfile.open(path) as tar:
        read = [(m.name, tar.extractfile(m).read(), m.mtime) for m in tar]  # type: ignore[union-attr]
    assert read == [(n, d, 1_700_000_000) for n, d in members]


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar not installed")
def test_gnu_tar_lists_and_extracts_it(tmp_path: Path) -> None:
    members = [(name, name.encode()) for name in NAMES]
    path = tmp_path / "t.tar"
    write(path, members)
    listed = subprocess.run(["tar", "-tf", str(path)], capture_output=True, text=True, check=True)
    assert listed.stdout.splitlines() == NAMES
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(path), "-C", str(out)], check=True)
    assert (out / NAMES[3]).read_bytes() == NAMES[3].encode()


def test_a_stream_that_ends_early_is_an_error(tmp_path: Path) -> None:
    with (tmp_path / "t.tar").open("wb") as out:
        tar = tarstream.TarWriter(out, mtime=0)
        with pytest.raises(OSError, match="ended 5 bytes early"):
            tar.add_stream("f", 10, io.BytesIO(b"12345"), chunk=4)


def test_read_ahead_keeps_order_and_raises_worker_errors() -> None:
    assert list(tarstream.read_ahead(range(1000), lambda i: i * 2, batch=7)) == [
        i * 2 for i in range(1000)
    ]

    def fail(i: int) -> int:
        if i == 500:
            raise ValueError("boom")
        return i

    with pytest.raises(ValueError, match="boom"):
        list(tarstream.read_ahead(range(1000), fail, batch=16))
