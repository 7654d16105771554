"""Sharing runs between machines: two "machines" are two config files and project roots.

Machine A trains a run on images under ``<PROJECT_DATA>``; machine B opens it after A's folders
are gone — through its own value of the alias, or with the images inside the bundle.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

import tercet
from tercet import config, share, storage
from tests.share.machines import MachineA, open_on_b, use_machine


def test_run_opens_on_b_through_bs_own_alias_value(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "baseline.tercet")
    labels = [r["label"] for r in machine_a.revision.rows]
    manifest = share.export_bundle([machine_a.run], bundle)
    assert manifest["aliases"]["PROJECT_DATA"]["value"] == str(machine_a.data)
    assert manifest["aliases"]["PROJECT_DATA"]["included"] is False
    elsewhere = tmp_path / "B" / "mounted" / "project"  # B reaches the same data elsewhere
    shutil.copytree(machine_a.data, elsewhere)
    shutil.rmtree(machine_a.home)

    root = use_machine(monkeypatch, tmp_path / "B")
    result = share.import_bundle(
        bundle, aliases={"PROJECT_DATA": str(elsewhere)}, save_aliases=True
    )

    assert result.saved_aliases == ["PROJECT_DATA"]
    assert config.load().aliases["PROJECT_DATA"] == str(elsewhere)
    assert {o["status"] for o in result.objects} == {"imported"}
    run, table = open_on_b(root)
    assert run.parameters == {"lr": 0.1} and run.status == "completed"
    assert table.id == machine_a.revision.id and table.url.startswith(str(root))
    assert [r["label"] for r in table.rows] == labels
    assert table.rows[0]["image"] == "<PROJECT_DATA>/img/0.png"  # no copy, no rewrite
    assert table[2]["image"].getpixel((0, 0)) == (40, 0, 0)
    assert run.metrics("train").num_rows == 6
    assert table.parent is not None and table.parent.id == machine_a.source.id


def test_include_data_opens_on_b_without_any_alias(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "baseline.tercet")
    manifest = share.export_bundle([machine_a.run], bundle, include_data=True)
    assert manifest["aliases"]["PROJECT_DATA"]["included"] is True
    shutil.rmtree(machine_a.home)

    root = use_machine(monkeypatch, tmp_path / "B")
    result = share.import_bundle(bundle)

    assert result.aliases == {}
    _, table = open_on_b(root)
    assert table.rows[3]["image"] == "../../../../data/PROJECT_DATA/img/3.png"
    assert table[3]["image"].getpixel((0, 0)) == (60, 0, 0)
    assert (root / "demo" / "data" / "PROJECT_DATA" / "img" / "5.png").is_file()


def test_alias_already_configured_on_b_is_used(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "b.tercet")
    share.export_bundle([machine_a.run], bundle)
    root = use_machine(monkeypatch, tmp_path / "B")
    monkeypatch.setenv("TERCET_ALIAS_PROJECT_DATA", str(machine_a.data))

    result = share.import_bundle(bundle)

    assert result.aliases["PROJECT_DATA"] == (str(machine_a.data), "env TERCET_ALIAS_PROJECT_DATA")
    assert result.saved_aliases == []
    assert open_on_b(root)[1][0]["image"].size == (4, 4)


def test_bundle_is_a_plain_tar_with_checksums_and_relative_references(
    machine_a: MachineA, tmp_path: Path
) -> None:
    bundle = tmp_path / "b.tercet"
    manifest = share.export_bundle([machine_a.run], str(bundle))
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        assert names[0] == "bundle.json" and names[-1] == "MANIFEST.json"
        listed = {f["name"]: f for f in manifest["files"]}
        assert set(names[1:-1]) == set(listed)
        run_object = "objects/demo/runs/baseline/object.json"
        member = tar.extractfile(run_object)
        assert member is not None
        assert hashlib.sha256(member.read()).hexdigest() == listed[run_object]["sha256"]
    assert manifest["roots"] == ["demo/runs/baseline"]
    kinds = sorted((o["kind"], o["path"].rsplit("/", 1)[1]) for o in manifest["objects"])
    assert kinds == [("run", "baseline"), ("table", "train"), ("table", machine_a.revision.name)]
    # Every reference between bundled objects is relative: valid wherever they land.
    run_entry = next(o for o in manifest["objects"] if o["kind"] == "run")
    assert run_entry["refs"] == [f"demo/datasets/shapes/tables/{machine_a.revision.name}"]
    assert share.read_manifest(str(bundle))["files"] == manifest["files"]


def test_exporting_a_table_takes_its_chain_and_nothing_else(
    machine_a: MachineA, tmp_path: Path
) -> None:
    later = machine_a.revision.delete_rows([5])  # a descendant: not part of the revision's graph
    manifest = share.export_bundle([machine_a.revision.url], str(tmp_path / "t.tercet"))
    names = {o["name"] for o in manifest["objects"]}
    assert names == {"train", machine_a.revision.name}
    assert later.name not in names


def test_absolute_references_between_objects_become_relative(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run elsewhere than its tables (another root) refers to them by absolute URL.
    other = tercet.Run.create(project="demo", name="elsewhere", root=str(tmp_path / "other-root"))
    other.add_input(machine_a.revision, "train")
    other.close()
    event = next(
        storage.read_json(u)
        for u in storage.walk_files(storage.join(other.url, "events"))
        if storage.read_json(u).get("type") == "input"
    )
    assert event["table"] == machine_a.revision.url
    bundle = str(tmp_path / "x.tercet")
    share.export_bundle([other.url], bundle)
    shutil.rmtree(machine_a.home)
    root = use_machine(monkeypatch, tmp_path / "B")
    share.import_bundle(bundle, aliases={"PROJECT_DATA": str(tmp_path)}, verify_aliases=False)
    (inp,) = tercet.Run.open(str(root / "demo" / "runs" / "elsewhere")).inputs
    assert inp["table"] == str(
        root / "demo" / "datasets" / "shapes" / "tables" / machine_a.revision.name
    )


def test_importing_twice_finds_everything_present(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "b.tercet")
    share.export_bundle([machine_a.run], bundle, include_data=True)
    use_machine(monkeypatch, tmp_path / "B")
    share.import_bundle(bundle)
    again = share.import_bundle(bundle)
    assert again.files_written == 0
    assert {o["kind"]: o["status"] for o in again.objects} == {"table": "present", "run": "merged"}


def test_a_run_imported_again_gains_its_new_metrics(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = str(tmp_path / "1.tercet"), str(tmp_path / "2.tercet")
    share.export_bundle([machine_a.run], first, include_data=True)
    run = tercet.Run.open(machine_a.run)
    run.write_metrics(
        machine_a.revision,
        {"example_id": machine_a.revision.example_ids(), "loss": np.zeros(6)},
        epoch=1,
        split="train",
    )
    share.export_bundle([machine_a.run], second, include_data=True)
    root = use_machine(monkeypatch, tmp_path / "B")
    share.import_bundle(first)
    result = share.import_bundle(second)
    run_b, _ = open_on_b(root)
    assert sorted(f["epoch"] for f in run_b.metric_files()) == [0, 1]
    assert 1 <= result.files_written <= 3  # the new metrics file and its input event


def test_project_option_imports_into_another_project(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "b.tercet")
    share.export_bundle([machine_a.run], bundle, include_data=True)
    root = use_machine(monkeypatch, tmp_path / "B")
    share.import_bundle(bundle, project="colleague")
    run = tercet.Run.open(str(root / "colleague" / "runs" / "baseline"))
    assert run.project == "colleague"
    table = tercet.Table.open(run.inputs[0]["table"])
    assert table.project == "colleague" and table.parent is not None
    assert table[0]["image"].size == (4, 4)
    assert tercet.list_projects() == ["colleague"]


def test_imported_run_is_served_like_a_local_one(
    machine_a: MachineA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    bundle = str(tmp_path / "b.tercet")
    share.export_bundle([machine_a.run], bundle, include_data=True)
    shutil.rmtree(machine_a.home)
    # The service fixture serves this test's own root: import into it.
    monkeypatch.setenv("TERCET_ROOT", str(request.getfixturevalue("root")))
    monkeypatch.setenv("TERCET_CONFIG", str(tmp_path / "config" / "config.yaml"))
    tercet.aliases.clear()
    share.import_bundle(bundle)
    service = request.getfixturevalue("service")
    runs = service.client.get("/api/projects/demo/runs").json()
    assert [r["name"] for r in runs] == ["baseline"]
    _, table = open_on_b(Path(service.root))
    image = table.rows[0]["image"]
    reply = service.client.get("/api/file", params={"url": image, "base": table.url})
    assert reply.status_code == 200, reply.text
    assert reply.content == (Path(table.resolve_url(image))).read_bytes()


@pytest.mark.s3
def test_export_to_s3_root_and_import_from_it(
    machine_a: MachineA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    pytest.importorskip("s3fs")
    bundle = str(tmp_path / "b.tercet")
    share.export_bundle([machine_a.run], bundle, include_data=True)
    use_machine(monkeypatch, tmp_path / "B")
    s3_root = request.getfixturevalue("s3_root")  # also sets TERCET_ROOT
    result = share.import_bundle(bundle)
    assert result.root == s3_root
    run = tercet.Run.open(f"{s3_root}/demo/runs/baseline")
    table = tercet.Table.open(run.inputs[0]["table"])
    assert table.url.startswith("s3://")
    assert table[4]["image"].getpixel((0, 0)) == (80, 0, 0)
    # …and back out again, into a bundle on S3: the bundled images (inside the project) travel.
    on_s3 = s3_root.rsplit("/", 1)[0] + "/bundles/again.tercet"
    again = share.export_bundle([run.url], on_s3)
    assert again["aliases"] == {} and again["roots"] == ["demo/runs/baseline"]
    local = tmp_path / "C"
    share.import_bundle(on_s3, root=str(local))
    run_c = tercet.Run.open(str(local / "demo" / "runs" / "baseline"))
    assert tercet.Table.open(run_c.inputs[0]["table"])[4]["image"].size == (4, 4)
