"""Bad input to ``tercet share``: every failure says what, where and how to fix it, and an import
that fails — for any reason, at any point — leaves the project root exactly as it was."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from tercet import share, storage
from tercet.errors import ShareError
from tercet.share.manifest import AliasEntry
from tercet.storage import files as storage_files
from tests.share.fixtures import snapshot
from tests.share.machines import MachineA, use_machine

Edit = Callable[[str, bytes], bytes | None]


def members_of(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def rebuild(src: Path, dst: Path, edit: Edit, fix_manifest: bool = False) -> Path:
    """Copy a bundle member by member through ``edit`` (None drops a member)."""
    out = []
    for name, data in members_of(src):
        new = edit(name, data)
        if new is not None:
            out.append((name, new))
    if fix_manifest:
        manifest = json.loads(dict(out)["MANIFEST.json"])
        by_name = dict(out)
        for entry in manifest["files"]:
            entry["sha256"] = hashlib.sha256(by_name[entry["name"]]).hexdigest()
            entry["size"] = len(by_name[entry["name"]])
        out = [(n, json.dumps(manifest).encode() if n == "MANIFEST.json" else d) for n, d in out]
    return write_tar(dst, out)


def first_image(name: str) -> bool:
    return name.endswith("/img/0.png")


# -- damaged bundles --------------------------------------------------------------------------
def test_truncated_bundle_is_refused_and_nothing_is_written(bundle: Path, machine_b: Path) -> None:
    before = snapshot(machine_b)
    cut = bundle.with_name("cut.tercet")
    cut.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    with pytest.raises(ShareError, match=r"cut\.tercet.*incomplete.*Copy it again"):
        share.import_bundle(str(cut))
    assert snapshot(machine_b) == before


def test_bundle_without_manifest_is_incomplete(bundle: Path, machine_b: Path) -> None:
    cut = rebuild(
        bundle, bundle.with_name("x.tercet"), lambda n, d: None if n == "MANIFEST.json" else d
    )
    with pytest.raises(ShareError, match="has no MANIFEST.json.*incomplete"):
        share.import_bundle(str(cut))


def test_tampered_member_fails_its_checksum(bundle: Path, machine_b: Path) -> None:
    before = snapshot(machine_b)
    bad = rebuild(
        bundle,
        bundle.with_name("x.tercet"),
        lambda n, d: d[:-1] + bytes([d[-1] ^ 1]) if first_image(n) else d,
    )
    with pytest.raises(
        ShareError, match=r"img/0\.png does not match its checksum.*damaged or altered"
    ):
        share.import_bundle(str(bad))
    assert snapshot(machine_b) == before


def test_member_missing_from_the_manifest_is_refused(bundle: Path, machine_b: Path) -> None:
    members = members_of(bundle)
    sneaky = ("objects/demo/data/PROJECT_DATA/sneaky.png", b"abc")
    src = write_tar(bundle.with_name("x.tercet"), [*members[:-1], sneaky, members[-1]])
    with pytest.raises(ShareError, match="its manifest does not list.*sneaky.png"):
        share.import_bundle(str(src))


def test_bundle_from_a_newer_tercet_asks_for_an_upgrade(bundle: Path, machine_b: Path) -> None:
    def newer(name: str, data: bytes) -> bytes:
        if name == "bundle.json":
            return json.dumps(
                {"format": "tercet.bundle", "format_version": 7, "tercet_version": "9.0"}
            ).encode()
        return data

    bad = rebuild(bundle, bundle.with_name("new.tercet"), newer)
    with pytest.raises(
        ShareError,
        match=r"bundle format version 7 \(written by Tercet 9\.0\).*"
        r"reads up to version 1.*pip install -U tercet",
    ):
        share.import_bundle(str(bad))


def test_object_of_a_newer_format_is_refused_before_writing(bundle: Path, machine_b: Path) -> None:
    before = snapshot(machine_b)

    def newer(name: str, data: bytes) -> bytes:
        if name.endswith("tables/train/object.json"):
            return json.dumps({**json.loads(data), "format_version": 99}).encode()
        return data

    bad = rebuild(bundle, bundle.with_name("x.tercet"), newer, fix_manifest=True)
    with pytest.raises(
        ShareError, match=r"train/object\.json has table format_version 99.*Upgrade"
    ):
        share.import_bundle(str(bad))
    assert snapshot(machine_b) == before


def test_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tercet"
    junk.write_bytes(b"this is not a tar archive" * 100)
    with pytest.raises(ShareError, match="junk.tercet is not a readable bundle"):
        share.import_bundle(str(junk))
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        info = tarfile.TarInfo("README")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ShareError, match="is not a Tercet bundle.*tercet share export"):
        share.import_bundle(str(other))
    with pytest.raises(ShareError, match="No bundle at .*missing.tercet"):
        share.import_bundle(str(tmp_path / "missing.tercet"))


def test_member_names_that_escape_the_root_are_refused(bundle: Path, machine_b: Path) -> None:
    members = members_of(bundle)
    src = write_tar(bundle.with_name("x.tercet"), [members[0], ("objects/../../evil.sh", b"hi")])
    with pytest.raises(ShareError, match="unsafe name"):
        share.import_bundle(str(src))
    assert not (machine_b.parent / "evil.sh").exists()


# -- export -------------------------------------------------------------------------------------
def test_missing_parent_at_export_names_it_and_the_fix(machine_a: MachineA, tmp_path: Path) -> None:
    shutil.rmtree(machine_a.source.url)
    with pytest.raises(
        ShareError,
        match=rf"No table at {machine_a.source.url}.*referenced from "
        rf".*{machine_a.revision.name}/object.json",
    ):
        share.export_bundle([machine_a.run], str(tmp_path / "x.tercet"))
    assert not (tmp_path / "x.tercet").exists()


def test_missing_data_file_with_include_data(machine_a: MachineA, tmp_path: Path) -> None:
    (machine_a.data / "img" / "3.png").unlink()
    with pytest.raises(
        ShareError,
        match=r"Data file .*img/3\.png does not exist.*without "
        "--include-data",
    ):
        share.export_bundle([machine_a.run], str(tmp_path / "x.tercet"), include_data=True)
    assert not (tmp_path / "x.tercet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_export_target_that_is_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ShareError, match="is not a table revision or run folder"):
        share.export_bundle([str(tmp_path)], str(tmp_path / "x.tercet"))
    with pytest.raises(ShareError, match="Nothing to export"):
        share.export_bundle([], str(tmp_path / "x.tercet"))


def test_export_never_overwrites_unless_forced(bundle: Path, machine_a: MachineA) -> None:
    with pytest.raises(ShareError, match="already exists.*--force"):
        share.export_bundle([machine_a.run], str(bundle))
    share.export_bundle([machine_a.run], str(bundle), overwrite=True)


def test_unknown_include_alias_is_named(machine_a: MachineA, tmp_path: Path) -> None:
    with pytest.raises(ShareError, match=r"<PROJECT_DTA>.*aliases they use are: <PROJECT_DATA>"):
        share.export_bundle([machine_a.run], str(tmp_path / "x"), include_data=["PROJECT_DTA"])


# -- aliases on import ----------------------------------------------------------------------------
@pytest.fixture
def aliased_bundle(machine_a: MachineA, tmp_path: Path) -> Path:
    path = tmp_path / "aliased.tercet"
    share.export_bundle([machine_a.run], str(path))
    return path


def test_missing_alias_lists_what_to_set(aliased_bundle: Path, machine_b: Path) -> None:
    before = snapshot(machine_b)
    with pytest.raises(
        ShareError,
        match=r"aliases not set here: <PROJECT_DATA> \(6 file\(s\), "
        r".*A/data on the exporting machine\).*Nothing was written.*"
        r"--alias PROJECT_DATA=.*--save-aliases.*--include-data",
    ):
        share.import_bundle(str(aliased_bundle))
    assert snapshot(machine_b) == before


def test_alias_that_points_nowhere(aliased_bundle: Path, machine_b: Path, tmp_path: Path) -> None:
    before = snapshot(machine_b)
    nowhere = tmp_path / "no" / "such" / "folder"
    with pytest.raises(
        ShareError,
        match=r"<PROJECT_DATA> = .*folder \(from --alias\) points "
        "nowhere.*does not exist.*Nothing was written.*--no-verify-aliases",
    ):
        share.import_bundle(str(aliased_bundle), aliases={"PROJECT_DATA": str(nowhere)})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ShareError, match=r"does not hold the bundle's data: .*empty/img/0\.png"):
        share.import_bundle(str(aliased_bundle), aliases={"PROJECT_DATA": str(empty)})
    assert snapshot(machine_b) == before
    # Data reachable only from elsewhere (the service host): the check can be skipped.
    share.import_bundle(
        str(aliased_bundle), aliases={"PROJECT_DATA": str(empty)}, verify_aliases=False
    )


def test_alias_value_is_asked_for_when_interactive(
    aliased_bundle: Path, machine_a: MachineA, machine_b: Path
) -> None:
    asked: list[str] = []

    def ask(name: str, entry: AliasEntry) -> str:
        asked.append(f"{name} was {entry['value']}")
        return str(machine_a.data)

    result = share.import_bundle(str(aliased_bundle), ask=ask)
    assert asked == [f"PROJECT_DATA was {machine_a.data}"]
    assert result.aliases["PROJECT_DATA"] == (str(machine_a.data), "asked")


# -- interrupted imports ---------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [OSError("No space left on device"), KeyboardInterrupt()])
@pytest.mark.parametrize("after", [0, 4, 9])
def test_import_interrupted_midway_leaves_nothing_behind(
    bundle: Path,
    machine_b: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: BaseException,
    after: int,
) -> None:
    before = snapshot(machine_b)
    real = storage_files.open_staged, storage_files.open_owned, storage_files.write_owned
    calls = {"n": 0}

    def count() -> None:
        # A disk that fills up (or a user pressing Ctrl-C) after some files were written.
        calls["n"] += 1
        if calls["n"] > after:
            raise fault

    @contextmanager
    def flaky(url: str, tag: str) -> Iterator[IO[bytes]]:
        count()
        with real[0](url, tag) as fh:
            yield fh

    @contextmanager
    def flaky_owned(url: str) -> Iterator[IO[bytes]]:  # in a staged folder of the import
        count()
        with real[1](url) as fh:
            yield fh

    def flaky_write(url: str, data: bytes) -> None:
        count()
        real[2](url, data)

    monkeypatch.setattr(storage_files, "open_staged", flaky)
    monkeypatch.setattr(storage_files, "open_owned", flaky_owned)
    monkeypatch.setattr(storage_files, "write_owned", flaky_write)
    expected = ShareError if isinstance(fault, Exception) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        share.import_bundle(str(bundle))
    if expected is ShareError:
        assert "No space left" in str(info.value) and "was removed" in str(info.value)
    assert calls["n"] > after
    assert snapshot(machine_b) == before
    for name, fn in zip(("open_staged", "open_owned", "write_owned"), real, strict=True):
        monkeypatch.setattr(storage_files, name, fn)
    share.import_bundle(str(bundle))  # and a later import goes through


@pytest.mark.s3
def test_interrupted_import_into_s3_leaves_nothing_behind(
    bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    pytest.importorskip("s3fs")
    use_machine(monkeypatch, tmp_path / "B")
    s3_root = request.getfixturevalue("s3_root")
    real = storage_files.open_staged
    calls = {"n": 0}

    @contextmanager
    def flaky(url: str, tag: str) -> Iterator[IO[bytes]]:
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError("connection reset")
        with real(url, tag) as fh:
            yield fh

    monkeypatch.setattr(storage_files, "open_staged", flaky)
    with pytest.raises(ShareError, match="connection reset.*was removed"):
        share.import_bundle(str(bundle))
    assert storage.walk_files(s3_root) == []
