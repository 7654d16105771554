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
from typing import IO, Any

import pytest

from tercet import share, storage
from tercet.errors import ShareError
from tercet.share import fence as share_fence
from tercet.share import members
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
    real = storage_files.open_staged
    calls = {"n": 0}

    @contextmanager
    def flaky(url: str, tag: str) -> Iterator[IO[bytes]]:
        # A disk that fills up (or a user pressing Ctrl-C) after some files were written.
        calls["n"] += 1
        if calls["n"] > after:
            raise fault
        with real(url, tag) as fh:
            yield fh

    monkeypatch.setattr(storage_files, "open_staged", flaky)
    expected = ShareError if isinstance(fault, Exception) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        share.import_bundle(str(bundle))
    if expected is ShareError:
        assert "No space left" in str(info.value) and "was removed" in str(info.value)
    assert calls["n"] > after
    assert snapshot(machine_b) == before
    monkeypatch.setattr(storage_files, "open_staged", real)
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


# -- where a bundle may write (tercet.share.members), rule by rule, without a bundle --------------
URL = "/b.tercet"
RUN_DIR = "demo/runs/r"
TABLE_DIR = "demo/datasets/d/tables/t.2"
DECLARED: dict[str, Any] = {RUN_DIR: "run", TABLE_DIR: "table"}


@pytest.mark.parametrize(
    ("rel", "owner"),
    [
        (f"{RUN_DIR}/object.json", RUN_DIR),
        (f"{RUN_DIR}/events/0001.json", RUN_DIR),
        (f"{RUN_DIR}/metrics/epoch-1.parquet", RUN_DIR),
        (f"{RUN_DIR}/metrics/val/epoch-1.parquet", RUN_DIR),
        (f"{RUN_DIR}/metrics/val/projections/umap/e.parquet", RUN_DIR),
        (f"{TABLE_DIR}/object.json", TABLE_DIR),
        (f"{TABLE_DIR}/delta.parquet", TABLE_DIR),
        (f"{TABLE_DIR}/rows/part-0.parquet", TABLE_DIR),
        ("demo/data/x.png", None),
        ("demo/aliases.yaml", None),
        ("demo/x.png", None),
        ("demo/datasets/d/images/x.png", None),
    ],
)
def test_members_a_bundle_may_write(rel: str, owner: str | None) -> None:
    assert members.check_member(rel, DECLARED, URL) == owner


@pytest.mark.parametrize(
    ("rel", "rule"),
    [
        *[
            (
                f"{RUN_DIR}/{file}",
                "is not a file a run holds (object.json, events/*.json, metrics/**.parquet)",
            )
            for file in (
                "events/x.txt",
                "events/a/b.json",
                "delta.parquet",
                "rows/part-0.parquet",
                "metrics/x.json",
                "metrics/a/b/x.parquet",
                "metrics/a/b/c/x.parquet",
                "metrics/a/b/c/d/x.parquet",
                "metrics/a/projections/b/c/x.parquet",
                "notes.parquet",
            )
        ],
        *[
            (
                f"{TABLE_DIR}/{file}",
                "is not a file a table holds (object.json, rows/*.parquet, delta.parquet)",
            )
            for file in (
                "rows/part-0.csv",
                "rows/a/b.parquet",
                "rows.parquet",
                "events/x.json",
                "metrics/x.parquet",
                "delta.parquet/x",
            )
        ],
        *[
            (
                rel,
                "lies in the folders objects live in (runs/, datasets/<dataset>/tables/) but "
                "in no object the manifest declares",
            )
            for rel in (
                "demo/runs/x.png",
                "demo/runs/other/object.json",
                "demo/datasets/x.png",
                "demo/datasets/d/x.png",
                "demo/datasets/d/tables/x.png",
                "demo/datasets/d/tables/u/object.json",
            )
        ],
        (
            "demo",
            "would write into project 'demo', which the manifest does not declare "
            "(it declares: demo)",
        ),
        (
            "mine/x.png",
            "would write into project 'mine', which the manifest does not declare "
            "(it declares: demo)",
        ),
        ("demo/data/.tmp-x.png", "has a hidden temp name (.tmp-…)"),
        ("demo/.tmp-1/x.png", "has a hidden temp name (.tmp-…)"),
        ("demo/da\x1bta/x.png", "has control characters in its name"),
        ("demo/data/x\x9b.png", "has control characters in its name"),
    ],
)
def test_members_a_bundle_may_not_write_are_refused_by_name_and_rule(rel: str, rule: str) -> None:
    with pytest.raises(ShareError) as err:
        members.check_member(rel, DECLARED, URL)
    assert str(err.value) == (
        f"{URL}: member {'objects/' + rel!r} {rule}. The bundle was crafted or damaged; "
        "nothing was written."
    )


def test_a_bundle_declaring_no_object_may_write_nowhere() -> None:
    with pytest.raises(ShareError, match=r"project 'demo', .*\(it declares: none\)"):
        members.check_member("demo/data/x.png", {}, URL)
    declared = {"b/runs/r": "run", "a/runs/r": "run"}
    with pytest.raises(ShareError, match=r"\(it declares: a, b\)"):
        members.check_member("c/x.png", declared, URL)  # type: ignore[arg-type]


def test_only_a_projects_own_aliases_file_is_its_aliases() -> None:
    assert members.is_project_aliases("demo/aliases.yaml")
    assert not members.is_project_aliases("demo/data/aliases.yaml")
    assert not members.is_project_aliases("aliases.yaml")
    assert not members.is_project_aliases("demo/aliases.yml")


@pytest.mark.parametrize("key", ["name", "table", "project", "dataset"])
@pytest.mark.parametrize("value", ["a\nb", "../x", "", 7, ".hidden"])
def test_descriptor_identity_fields_must_be_names(key: str, value: Any) -> None:
    members.check_names({key: "ok-name.1_x"}, "W")
    members.check_names({key: None}, "W")
    with pytest.raises(ShareError) as err:
        members.check_names({key: value}, "W")
    assert str(err.value) == (
        f"W: {key} {value!r} is not a valid name (letters, digits, '.', '_', '-'; no control "
        "characters). The bundle was crafted or damaged."
    )


def _manifest() -> dict[str, Any]:
    return {
        "files": [{"name": f"objects/{RUN_DIR}/object.json", "size": 0, "sha256": "0a" * 32}],
        "objects": [
            {"path": RUN_DIR, "kind": "run", "project": "demo", "name": "r"},
            {
                "path": TABLE_DIR,
                "kind": "table",
                "project": "demo",
                "dataset": "d",
                "table": "t",
                "name": "t",
            },
        ],
        "aliases": {"DATA_2": {"samples": ["a/b.png", "c"], "included": False, "files": 2}},
        "absolute": [{"example": None}, {"example": "/x.png"}],
    }


def test_a_well_formed_manifest_passes() -> None:
    members.check_manifest(_manifest(), URL)  # type: ignore[arg-type]
    doc = _manifest()
    del doc["absolute"]
    doc["objects"][1]["path"] = doc["objects"][1]["table"] = "demo/datasets/d/tables/t"
    doc["objects"][1]["table"] = "t"
    members.check_manifest(doc, URL)  # type: ignore[arg-type]


def _files(doc: dict[str, Any], **change: Any) -> None:
    doc["files"][0].update(change)


def _entry(i: int, **change: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["objects"][i].update(change)


def _alias(**change: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["aliases"]["DATA_2"].update(change)


FILES = "the manifest's files list is malformed. The bundle is damaged."
OBJECTS = "the manifest's objects list is malformed. The bundle is damaged."
ENTRY = f"the manifest's object {RUN_DIR!r}"
TENTRY = f"the manifest's object {TABLE_DIR!r}"
SAMPLES = (
    "alias <DATA_2> lists sample paths that are not plain relative paths below it. The bundle "
    "was crafted or damaged; nothing was written."
)
ABSOLUTE = "the manifest's absolute list is malformed."
NOT_AN_OBJECT = (
    "is not a table revision or run folder (<project>/datasets/<dataset>/tables/<revision> or "
    "<project>/runs/<run>, names of letters, digits, '.', '_', '-'). The bundle is damaged."
)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(files={}), FILES),
        (lambda d: d.pop("files"), FILES),
        (lambda d: d["files"].append("x"), FILES),
        (lambda d: _files(d, name=1), FILES),
        (lambda d: _files(d, size=-1), FILES),
        (lambda d: _files(d, size="0"), FILES),
        (lambda d: _files(d, sha256=None), FILES),
        (lambda d: _files(d, sha256="0A" * 32), FILES),
        (lambda d: _files(d, sha256="0a" * 31), FILES),
        (lambda d: _files(d, sha256="0a" * 32 + "\n"), FILES),
        (lambda d: d.update(objects={}), OBJECTS),
        (lambda d: d["objects"].append([]), OBJECTS),
        (
            lambda d: d["objects"].append(dict(d["objects"][0])),
            f"the manifest lists {RUN_DIR} twice. It is damaged.",
        ),
        (_entry(0, kind="table"), f"{ENTRY} {NOT_AN_OBJECT}"),
        (_entry(0, path=7), f"the manifest's object 7 {NOT_AN_OBJECT}"),
        (_entry(0, path="demo/runs"), f"the manifest's object 'demo/runs' {NOT_AN_OBJECT}"),
        (_entry(0, project="mine"), f"{ENTRY} names project 'mine', not 'demo'."),
        (_entry(0, name=None), f"{ENTRY} has an invalid name None."),
        (_entry(0, name="r\x1b"), f"{ENTRY} has an invalid name 'r\\x1b'."),
        (_entry(1, table=None), f"{TENTRY} has an invalid table name None."),
        (_entry(1, table="../t"), f"{TENTRY} has an invalid table name '../t'."),
        (_entry(1, table="u"), f"{TENTRY} does not lie in the folder of table 'u'."),
        (_entry(1, table="t.2.x"), f"{TENTRY} does not lie in the folder of table 't.2.x'."),
        (_entry(1, dataset="e"), f"{TENTRY} does not lie in the folder of table 't'."),
        (
            lambda d: d.update(aliases=[]),
            "the manifest's aliases are malformed. The bundle is damaged.",
        ),
        (lambda d: d["aliases"].update(data={}), "the manifest names an invalid alias 'data'."),
        (lambda d: d["aliases"].update(DATA=[]), "the manifest names an invalid alias 'DATA'."),
        (_alias(samples=None), SAMPLES),
        (_alias(samples=["../x"]), SAMPLES),
        (_alias(samples=["a/../../x"]), SAMPLES),
        (_alias(samples=["/etc/passwd"]), SAMPLES),
        (_alias(samples=["~/x"]), SAMPLES),
        (_alias(samples=["a\\b"]), SAMPLES),
        (_alias(samples=[""]), SAMPLES),
        (_alias(samples=["a//b"]), SAMPLES),
        (_alias(samples=["./a"]), SAMPLES),
        (_alias(samples=["a/\x07"]), SAMPLES),
        (_alias(samples=[1]), SAMPLES),
        (_alias(included=1), "alias <DATA_2> in the manifest is malformed."),
        (_alias(files="2"), "alias <DATA_2> in the manifest is malformed."),
        (
            lambda d: d["aliases"]["DATA_2"].pop("files"),
            "alias <DATA_2> in the manifest is malformed.",
        ),
        (lambda d: d.update(absolute={}), ABSOLUTE),
        (lambda d: d["absolute"].append("x"), ABSOLUTE),
        (lambda d: d["absolute"].append({"example": 1}), ABSOLUTE),
    ],
)
def test_a_malformed_manifest_is_refused_saying_which_record(
    edit: Callable[[dict[str, Any]], Any], message: str
) -> None:
    doc = _manifest()
    edit(doc)
    with pytest.raises(ShareError) as err:
        members.check_manifest(doc, URL)  # type: ignore[arg-type]
    assert str(err.value) == f"{URL}: {message}"


# -- the fence around references a bundle stores (tercet.share.fence), without a bundle -----------
LEAVES_OBJECTS = "is absolute or aliased; references between objects must be relative"


@pytest.mark.parametrize(
    ("ref", "path", "field", "data", "why"),
    [
        (None, TABLE_DIR, "parent", False, "is not a non-empty string"),
        ("", TABLE_DIR, "parent", False, "is not a non-empty string"),
        (3, TABLE_DIR, "image URL", True, "is not a non-empty string"),
        ("../t\x1b", TABLE_DIR, "parent", False, "holds control characters"),
        ("a\x85.png", TABLE_DIR, "image URL", True, "holds control characters"),
        ("..\\t", TABLE_DIR, "parent", False, "holds a backslash"),
        ("C:\\x.png", TABLE_DIR, "image URL", True, "holds a backslash"),
        ("/etc", TABLE_DIR, "parent", False, LEAVES_OBJECTS),
        ("~/t", TABLE_DIR, "parent", False, LEAVES_OBJECTS),
        ("<PROJECT_DATA>/t", TABLE_DIR, "rows[]", False, LEAVES_OBJECTS),
        ("s3://b/t", RUN_DIR, "input table", False, LEAVES_OBJECTS),
        ("c:t", RUN_DIR, "footer table", False, LEAVES_OBJECTS),
        ("mailto:t", TABLE_DIR, "delta.file", False, LEAVES_OBJECTS),
        ("../t", TABLE_DIR, "parent", False, None),
        ("../../e/tables/t", TABLE_DIR, "parent", False, None),
        (
            "../../../../../mine/t",
            TABLE_DIR,
            "parent",
            False,
            "leads out of its project 'demo' (it resolves to 'mine/t')",
        ),
        ("rows/part-0.parquet", TABLE_DIR, "rows[]", False, None),
        (
            "../t/rows/p.parquet",
            TABLE_DIR,
            "rows[]",
            False,
            f"leads out of its object's folder {TABLE_DIR!r} "
            "(it resolves to 'demo/datasets/d/tables/t/rows/p.parquet')",
        ),
        ("delta.parquet", TABLE_DIR, "delta.file", False, None),
        (
            ".",
            TABLE_DIR,
            "delta.file",
            False,
            f"leads out of its object's folder {TABLE_DIR!r} (it resolves to {TABLE_DIR!r})",
        ),
        ("../../datasets/d/tables/t", RUN_DIR, "input table", False, None),
        ("../../datasets/d/tables/t", RUN_DIR, "footer table", False, None),
        (
            "../../../mine/datasets/d/tables/t",
            RUN_DIR,
            "footer table",
            False,
            "leads out of its project 'demo' (it resolves to 'mine/datasets/d/tables/t')",
        ),
        # Data URLs: absolute and aliased ones may point anywhere, relative ones stay inside.
        ("/data/x.png", TABLE_DIR, "image URL", True, None),
        ("<DATA>/x.png", TABLE_DIR, "image URL", True, None),
        ("s3://b/x.png", TABLE_DIR, "image URL", True, None),
        ("../../../../x.png", TABLE_DIR, "image URL", True, None),
        (
            "../../../../../x.png",
            TABLE_DIR,
            "image URL",
            True,
            "leads out of its project 'demo' (it resolves to 'x.png')",
        ),
        (
            "../../../..",
            TABLE_DIR,
            "image URL",
            True,
            "leads out of its project 'demo' (it resolves to 'demo')",
        ),
        (
            "../../../../../demo-x/a.png",
            TABLE_DIR,
            "image URL",
            True,
            "leads out of its project 'demo' (it resolves to 'demo-x/a.png')",
        ),
    ],
)
def test_reference_rule(ref: Any, path: str, field: str, data: bool, why: str | None) -> None:
    assert share_fence.reference_error(ref, path, data=data, field=field) == why
    if not data:  # references are not data URLs unless said so
        assert share_fence.reference_error(ref, path, field=field) == why
    if why is None:
        share_fence.check(ref, path, field, "W", data=data)
        return
    with pytest.raises(ShareError) as err:
        share_fence.check(ref, path, field, "W", data=data)
    assert str(err.value) == (
        f"W: {field} {ref!r} {why}. A bundle's objects may only refer inside their own project; "
        "this one was crafted or damaged. Nothing was written."
    )


def _table_descriptor(**changes: Any) -> dict[str, Any]:
    return {
        "format": "tercet.table",
        "schema": {"columns": [{"name": "img", "role": "image"}, {"name": "y", "role": "label"}]},
        "parent": "../t",
        "rows": ["rows/a.parquet", "rows/b.parquet"],
        "delta": {"file": "delta.parquet", "set": {"img": {"rows": [0], "value": ["/d/a.png"]}}},
        **changes,
    }


def test_a_table_descriptors_references_that_pass() -> None:
    share_fence.check_descriptor(_table_descriptor(), TABLE_DIR, "W")
    share_fence.check_descriptor(
        _table_descriptor(parent=None, rows=None, delta=None), TABLE_DIR, "W"
    )
    share_fence.check_descriptor(_table_descriptor(delta={"file": None}), TABLE_DIR, "W")
    # Run descriptors store no reference checked here (their input tables are in events).
    share_fence.check_descriptor({"format": "tercet.run", "parent": "/etc"}, RUN_DIR, "W")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"parent": "/etc"}, f"W: parent '/etc' {LEAVES_OBJECTS}"),
        ({"rows": ["rows/a.parquet", "/etc/passwd"]}, f"W: rows[] '/etc/passwd' {LEAVES_OBJECTS}"),
        ({"rows": "rows/a.parquet"}, "W: rows is not a list. The bundle is damaged."),
        ({"delta": ["x"]}, "W: delta is not an object. The bundle is damaged."),
        ({"delta": {"file": "/x"}}, f"W: delta.file '/x' {LEAVES_OBJECTS}"),
        ({"delta": {"set": ["img"]}}, "W: its inline delta is malformed. The bundle is damaged."),
        (
            {"delta": {"set": {"img": {"value": None}}}},
            "W: its inline delta is malformed. The bundle is damaged.",
        ),
        (
            {"delta": {"set": {"img": {"rows": [0], "value": ["../../../../../x.png"]}}}},
            "W: image URL '../../../../../x.png' leads out of its project 'demo'",
        ),
        (
            {
                "delta": {
                    "added_columns": [
                        {"name": "i2", "role": "image", "default": "../../../../../x.png"}
                    ]
                }
            },
            "W: image URL '../../../../../x.png' leads out of its project 'demo'",
        ),
    ],
)
def test_a_table_descriptors_bad_references_are_named(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ShareError) as err:
        share_fence.check_descriptor(_table_descriptor(**changes), TABLE_DIR, "W")
    assert str(err.value).startswith(message)


def test_only_input_events_name_tables() -> None:
    out = "../../../mine/datasets/d/tables/t"
    for raw in (
        b"{not json",
        b"\xff\xfe",
        b"[1]",
        json.dumps({"type": "epoch", "table": out}).encode(),
        json.dumps({"type": "input"}).encode(),
        json.dumps({"type": "input", "table": "../../datasets/d/tables/t"}).encode(),
    ):
        share_fence.check_event(raw, RUN_DIR, "W")
    with pytest.raises(ShareError, match=r"^W: input table '\.\./\.\./\.\./mine/.*' leads out"):
        share_fence.check_event(json.dumps({"type": "input", "table": out}).encode(), RUN_DIR, "W")


def _parquet(header: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = None if header is None else {b"tercet": json.dumps(header).encode()}
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2]}).replace_schema_metadata(meta), buf)
    return buf.getvalue()


def test_a_footer_naming_a_table_in_the_project_passes() -> None:
    share_fence.check_footer(_parquet({"table": "../../datasets/d/tables/t"}), RUN_DIR, "W")
    share_fence.check_footer(_parquet({"epoch": 1}), RUN_DIR, "W")
    share_fence.check_footer(_parquet(None), RUN_DIR, "W")  # logged scalars have no header
    tail = share_fence.Tail(1 << 16)
    for i in range(0, len(data := _parquet({"table": "../../datasets/d/tables/t"})), 7):
        tail.add(data[i : i + 7])
    share_fence.check_footer(tail.value(), RUN_DIR, "W")


def test_footers_that_are_not_parquet_or_lead_out_are_refused() -> None:
    good = _parquet({"table": "../../datasets/d/tables/t"})
    with pytest.raises(ShareError) as err:
        share_fence.check_footer(good[-11:], RUN_DIR, "W")
    assert str(err.value) == "W is not a Parquet file. The bundle is damaged."
    share_fence.check_footer(good[-(int.from_bytes(good[-8:-4], "little") + 8) :], RUN_DIR, "W")
    with pytest.raises(ShareError, match="^W is not a Parquet file"):
        share_fence.check_footer(good[:-1] + b"2", RUN_DIR, "W")
    short = good[-(int.from_bytes(good[-8:-4], "little") + 7) :]
    with pytest.raises(ShareError) as err:
        share_fence.check_footer(short, RUN_DIR, "W")
    length = int.from_bytes(good[-8:-4], "little")
    assert str(err.value) == (
        f"W: its Parquet footer declares {length:,} bytes, more than the {len(short) - 8:,} "
        "checked for references. The bundle is damaged or was crafted."
    )
    garbage = b"\x00" * 20 + (20).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(ShareError, match=r"^W: its Parquet footer is unreadable \("):
        share_fence.check_footer(garbage, RUN_DIR, "W")
    # The smallest tail that can hold a footer is read as one; a length past 3 bytes is read whole.
    smallest = b"\x00" * 4 + (4).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(ShareError, match=r"^W: its Parquet footer is unreadable \("):
        share_fence.check_footer(smallest, RUN_DIR, "W")
    huge = b"\x00" * 20 + (1 << 24).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(
        ShareError, match=r"^W: its Parquet footer declares 16,777,216 bytes, more "
    ):
        share_fence.check_footer(huge, RUN_DIR, "W")
    out = _parquet({"table": "../../../mine/datasets/d/tables/t"})
    with pytest.raises(ShareError, match=r"^W: footer table '\.\./\.\./\.\./mine/.*' leads out"):
        share_fence.check_footer(out, RUN_DIR, "W")


def test_tail_keeps_the_last_bytes_of_a_stream() -> None:
    tail = share_fence.Tail(4)
    assert tail.value() == b""
    tail.add(b"ab")
    assert tail.value() == b"ab"
    for chunk in (b"cdefg", b"h", b"i", b"jklmnopq", b"r"):
        tail.add(chunk)
        assert len(tail.kept) <= 2 * 4  # a stream of any length holds a few bytes
    assert tail.value() == b"opqr"
    assert len(tail.kept) <= 8


# -- the verifying pass (tercet.share.verify), on one bundle crafted many ways --------------------
class _Recorder:
    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.advanced = 0

    def start(self, description: str, total: int) -> None:
        self.started.append((description, total))

    def advance(self, amount: int = 1) -> None:
        self.advanced += amount


def test_scan_returns_what_it_verified_and_names_each_refusal(bundle: Path, tmp_path: Path) -> None:
    from tercet.share import verify
    from tests.share.crafting import craft, with_footer_table

    url = str(bundle)
    good = members_of(bundle)
    names = [n for n, _ in good]
    recorder = _Recorder()
    scan = verify.scan(url, recorder)
    listed = {f["name"]: f["size"] for f in scan.manifest["files"]}
    assert scan.url == url and scan.sizes == listed
    assert set(scan.sizes) == set(names) - {"bundle.json", "MANIFEST.json"}
    assert recorder.started == [("Verifying", bundle.stat().st_size)]
    assert recorder.advanced == sum(listed.values())
    paths = {o["path"] for o in scan.manifest["objects"]}
    assert set(scan.descriptors) == paths
    for path in paths:
        assert scan.descriptors[path] == dict(good)[f"objects/{path}/object.json"]
    assert scan.project_aliases == []
    with_aliases = craft(bundle, tmp_path / "a.tercet", add=[("objects/demo/aliases.yaml", b"{}")])
    assert verify.scan(str(with_aliases)).project_aliases == ["objects/demo/aliases.yaml"]

    image = next(n for n in names if first_image(n))
    descriptor = next(n for n in names if n.endswith("/object.json"))
    n = 0

    def refused(members: list[tuple[str, bytes]] | Path, message: str) -> None:
        nonlocal n
        n += 1
        path = members if isinstance(members, Path) else write_tar(tmp_path / f"{n}.tar", members)
        with pytest.raises(ShareError) as err:
            verify.scan(str(path))
        assert str(err.value) == message.replace("URL", str(path))

    incomplete = (
        "the bundle is incomplete (truncated while copying?). Copy it again, or export it again."
    )
    refused(
        good[1:],
        "URL is not a Tercet bundle: it does not start with bundle.json. "
        "Create bundles with `tercet share export`.",
    )
    refused(
        [*good, ("objects/demo/x.png", b"x")],
        "URL: member 'objects/demo/x.png' follows "
        "the manifest; the bundle was altered after export. Export it again.",
    )
    refused(
        [good[0], ("notes.txt", b"x"), *good[1:]],
        "URL: unexpected member 'notes.txt'; the bundle is damaged or was not made by Tercet.",
    )
    refused(good[:-1], f"URL has no MANIFEST.json: {incomplete}")
    refused(
        [g for g in good if g[0] != image],
        f"URL lacks 1 file(s) its manifest lists, e.g. {image}: {incomplete}",
    )
    refused(
        [
            *good[:-1],
            ("objects/demo/data/b.png", b"x"),
            ("objects/demo/data/a.png", b"y"),
            good[-1],
        ],
        "URL holds 2 file(s) its manifest does not list, e.g. "
        "objects/demo/data/a.png: it was altered after export. Export it again.",
    )
    sha = next(f["sha256"] for f in scan.manifest["files"] if f["name"] == image)
    flipped = [(nm, d[:-1] + bytes([d[-1] ^ 1]) if nm == image else d) for nm, d in good]
    found = hashlib.sha256(dict(flipped)[image]).hexdigest()
    refused(
        flipped,
        f"URL: {image} does not match its checksum in the manifest (sha256 "
        f"{sha[:12]}…, found {found[:12]}…): the bundle was damaged or altered. Copy or "
        "export it again.",
    )

    def longer(doc: dict[str, Any]) -> None:
        for f in doc["files"]:
            if f["name"] == image:
                f["size"] += 1

    refused(
        craft(bundle, tmp_path / "size.tercet", manifest=longer),
        f"URL: {image} does not match its checksum in the manifest (sha256 {sha[:12]}…, "
        f"found {sha[:12]}…): the bundle was damaged or altered. Copy or export it again.",
    )
    obj = descriptor[len("objects/") : -len("/object.json")]
    refused(
        craft(bundle, tmp_path / "nodesc.tercet", lambda nm, d: None if nm == descriptor else d),
        f"URL: object {obj} has no object.json in the bundle. Export it again.",
    )
    refused(
        craft(bundle, tmp_path / "json.tercet", lambda nm, d: b"{" if nm == descriptor else d),
        f"URL: {obj}/object.json is not valid JSON. The bundle is damaged.",
    )
    refused(
        craft(bundle, tmp_path / "utf.tercet", lambda nm, d: b"\xff" if nm == descriptor else d),
        f"URL: {obj}/object.json is not valid JSON. The bundle is damaged.",
    )
    for desc in (n for n in names if n.endswith("/object.json")):
        kind, where = ("run" if "/runs/" in desc else "table"), desc[len("objects/") :]

        def not_one(name: str, data: bytes, desc: str = desc) -> bytes:
            return b"[]" if name == desc else data

        refused(
            craft(bundle, tmp_path / "fmt.tercet", not_one),
            f"URL: {where} is not a Tercet {kind} descriptor (no 'format': 'tercet.{kind}'). "
            "The bundle is damaged.",
        )
    # A table holds no metrics: its Parquet files are refused as such, never read as footers.
    table = next(o["path"] for o in scan.manifest["objects"] if o["kind"] == "table")
    odd = f"objects/{table}/metrics/x.parquet"
    refused(
        craft(bundle, tmp_path / "odd.tercet", add=[(odd, b"not parquet")]),
        f"URL: member {odd!r} is not a file a table holds (object.json, rows/*.parquet, "
        "delta.parquet). The bundle was crafted or damaged; nothing was written.",
    )
    link = tarfile.TarInfo("objects/demo/data/link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    linked = tmp_path / "link.tar"
    with tarfile.open(linked, "w") as tar:
        for name, data in good[:2]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.addfile(link)
    refused(
        linked,
        "URL: member 'objects/demo/data/link.png' is not a regular file (links and "
        "devices are never part of a bundle). Do not import it.",
    )
    refused(tmp_path / "none.tar", "No bundle at URL: the file does not exist.")
    event = next(nm for nm in names if "/events/" in nm and nm.endswith(".json"))
    out = "../../../mine/datasets/d/tables/t"
    evil = json.dumps({"type": "input", "table": out}).encode()
    refused(
        craft(bundle, tmp_path / "ev.tercet", lambda nm, d: evil if nm == event else d),
        f"URL: {event}: input table {out!r} leads out of its project 'demo' (it resolves to "
        "'mine/datasets/d/tables/t'). A bundle's objects may only refer inside their own "
        "project; this one was crafted or damaged. Nothing was written.",
    )
    metrics = next(nm for nm in names if "/metrics/" in nm and "/epoch-" in nm)
    footer = craft(
        bundle,
        tmp_path / "ft.tercet",
        lambda nm, d: with_footer_table(d, out) if nm == metrics else d,
    )
    refused(
        footer,
        f"URL: {metrics}: footer table {out!r} leads out of its project 'demo' (it "
        "resolves to 'mine/datasets/d/tables/t'). A bundle's objects may only refer inside "
        "their own project; this one was crafted or damaged. Nothing was written.",
    )


def test_scan_caps_the_descriptors_it_holds_and_sizes_the_manifest_cap_by_what_precedes_it(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tercet.share import limits, verify

    good = members_of(bundle)
    body = good[1:-1]
    held = sum(len(d) for n, d in body if n.endswith("/object.json"))
    asked: list[tuple[int, int]] = []
    real_cap = limits.manifest_cap

    def manifest_cap(members: int, names: int) -> int:
        asked.append((members, names))
        return real_cap(members, names)

    monkeypatch.setattr(limits, "manifest_cap", manifest_cap)
    monkeypatch.setattr(limits, "DESCRIPTORS", held)
    verify.scan(str(bundle))  # exactly at the cap
    assert asked == [(len(body), sum(len(n) for n, _ in body))]
    monkeypatch.setattr(limits, "DESCRIPTORS", held - 1)
    with pytest.raises(ShareError) as err:
        verify.scan(str(bundle))
    assert str(err.value) == (
        f"{bundle}: its descriptors (object.json files) add up to more than {held - 1:,} bytes. "
        "The bundle was crafted or damaged."
    )
