"""``tercet share import`` against crafted bundles: every refusal happens before anything is
written and names the member and the rule; imports stopped by a signal at any point leave no
object visible, and running them again ends with exactly the files of a clean import."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tercet
from tercet import share, storage
from tercet.errors import ShareError
from tests.share.crafting import craft, members_of, with_footer_table, with_json
from tests.share.fixtures import snapshot
from tests.share.machines import train_on_a, use_machine, write_images

TRAIN = "objects/demo/datasets/shapes/tables/train/"
RUN = "objects/demo/runs/baseline/"


def refused(crafted: Path, machine_b: Path, match: str, **options: Any) -> None:
    """The import of ``crafted`` fails with ``match`` and leaves every folder as it was."""
    everything = machine_b.parent.parent  # machine B's root and all beside it
    before = snapshot(everything)
    with pytest.raises(ShareError, match=match):
        share.import_bundle(str(crafted), **options)
    assert snapshot(everything) == before


def revision_member(bundle: Path) -> str:
    return next(
        n for n, _ in members_of(bundle) if re.search(r"tables/train\.[^/]+/object\.json$", n)
    )


def edit_member(name: str, fn: Callable[[bytes], bytes]) -> Callable[[str, bytes], bytes]:
    return lambda n, d: fn(d) if n == name else d


# -- stored references that leave the project -----------------------------------------------------
@pytest.mark.parametrize(
    "parent",
    [
        "../../../../../mine/datasets/d/tables/t",  # another project of the same root
        "../../../../../../../../etc",  # past the root
        "/etc",
        "file:///etc",
        "s3://elsewhere/p/datasets/d/tables/t",
        "<PROJECT_DATA>/x",
        "..\\..\\..\\..\\..\\mine",
    ],
)
def test_parent_that_leaves_the_project_is_refused(
    bundle: Path, machine_b: Path, parent: str
) -> None:
    rev = revision_member(bundle)
    bad = craft(
        bundle,
        bundle.with_name("x.tercet"),
        edit_member(rev, lambda d: with_json(d, parent=parent)),
    )
    refused(
        bad, machine_b, r"train\.[^/]+/object\.json: parent .* (leads out of|absolute|backslash)"
    )


@pytest.mark.parametrize(
    "row", ["../../../../../mine/datasets/d/tables/t/rows/x.parquet", "/etc/passwd"]
)
def test_rows_file_outside_the_project_is_refused(bundle: Path, machine_b: Path, row: str) -> None:
    src = TRAIN + "object.json"
    bad = craft(
        bundle, bundle.with_name("x.tercet"), edit_member(src, lambda d: with_json(d, rows=[row]))
    )
    refused(bad, machine_b, r"train/object\.json: rows\[\] .*(leads out of|absolute)")


@pytest.mark.parametrize(
    "file",
    [
        "../../../../../../secret.parquet",  # out of the project
        "../train/rows/part.parquet",  # in the project, but another object's file
    ],
)
def test_delta_file_outside_its_revision_is_refused(
    bundle: Path, machine_b: Path, file: str
) -> None:
    rev = revision_member(bundle)
    bad = craft(
        bundle,
        bundle.with_name("x.tercet"),
        edit_member(rev, lambda d: with_json(d, delta={"file": file})),
    )
    refused(bad, machine_b, r"delta\.file '\.\./.*leads out of its object's folder 'demo/")


def test_relative_image_url_outside_the_project_is_refused(bundle: Path, machine_b: Path) -> None:
    rev = revision_member(bundle)

    def edit(data: bytes) -> bytes:
        import json

        doc = json.loads(data)
        doc["delta"] = {"set": {"image": {"rows": [0], "value": ["../../../../../../etc/passwd"]}}}
        return json.dumps(doc).encode()

    bad = craft(bundle, bundle.with_name("x.tercet"), edit_member(rev, edit))
    refused(bad, machine_b, r"image URL '\.\./.*passwd' leads out of its project")


@pytest.mark.parametrize("table", ["/etc", "../../../mine/datasets/d/tables/t", "<PROJECT_DATA>/t"])
def test_input_event_that_leaves_the_project_is_refused(
    bundle: Path, machine_b: Path, table: str
) -> None:
    def edit(name: str, data: bytes) -> bytes:
        if name.startswith(RUN + "events/") and b'"input"' in data:
            return with_json(data, table=table)
        return data

    bad = craft(bundle, bundle.with_name("x.tercet"), edit)
    refused(bad, machine_b, r"events/.*\.json: input table .*(leads out of|absolute)")


@pytest.mark.parametrize("table", ["/etc", "../../../mine/datasets/d/tables/t"])
def test_metrics_footer_that_leaves_the_project_is_refused(
    bundle: Path, machine_b: Path, table: str
) -> None:
    def edit(name: str, data: bytes) -> bytes:
        if name.startswith(RUN + "metrics/train/"):
            return with_footer_table(data, table)
        return data

    bad = craft(bundle, bundle.with_name("x.tercet"), edit)
    refused(
        bad, machine_b, r"metrics/train/epoch-.*parquet: footer table .*(leads out of|absolute)"
    )


def test_projection_footer_that_leaves_the_project_is_refused(
    bundle: Path, machine_b: Path
) -> None:
    metrics = next(d for n, d in members_of(bundle) if n.startswith(RUN + "metrics/train/"))
    projection = (
        RUN + "metrics/train/projections/pca-2d/epoch-0000-20260101T000000000000-abcdef.parquet",
        with_footer_table(metrics, "../../../../../../../../etc"),
    )
    bad = craft(bundle, bundle.with_name("x.tercet"), add=[projection])
    refused(bad, machine_b, r"projections/pca-2d/.*parquet: footer table .*leads out of")


# -- writes outside the declared projects and objects -------------------------------------------
@pytest.mark.parametrize(
    ("member", "rule"),
    [
        ("objects/mine/notes.txt", "project 'mine', which the manifest does not declare"),
        ("objects/other/data/x.png", "project 'other', which the manifest does not declare"),
        (RUN + "notes.txt", "is not a file a run holds"),
        (TRAIN + "cache/rows.parquet", "is not a file a table holds"),
        ("objects/demo/runs/ghost/object.json", "in no object the manifest declares"),
        ("objects/demo/runs/ghost", "in no object the manifest declares"),
        ("objects/demo/datasets/shapes/tables/evil", "in no object the manifest declares"),
        ("objects/demo/data/.tmp-0123456789ab-x.png", "hidden temp name"),
        ("objects/demo/data/img\x1b[2J.png", "control characters"),
        ("objects/demo/data/bell\x07.png", "control characters"),
    ],
)
def test_member_outside_what_the_manifest_declares_is_refused(
    bundle: Path, machine_b: Path, member: str, rule: str
) -> None:
    bad = craft(bundle, bundle.with_name("x.tercet"), add=[(member, b"hello")])
    refused(bad, machine_b, re.escape(rule))


def test_project_aliases_file_only_with_with_aliases(bundle: Path, machine_b: Path) -> None:
    aliases = ("objects/demo/aliases.yaml", b"PROJECT_DATA: /elsewhere\n")
    bad = craft(bundle, bundle.with_name("x.tercet"), add=[aliases])
    refused(bad, machine_b, r"carries objects/demo/aliases\.yaml.*--with-aliases")
    share.import_bundle(str(bad), with_aliases=True)
    assert (machine_b / "demo" / "aliases.yaml").read_bytes() == aliases[1]


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "base\nline"), ("project", "demo\x1b]0;pwned\x07"), ("name", "../../x")],
)
def test_descriptor_names_with_control_characters_are_refused(
    bundle: Path, machine_b: Path, field: str, value: str
) -> None:
    bad = craft(
        bundle,
        bundle.with_name("x.tercet"),
        edit_member(RUN + "object.json", lambda d: with_json(d, **{field: value})),
    )
    refused(bad, machine_b, rf"runs/baseline/object\.json: {field} .* is not a valid name")


def test_manifest_alias_samples_must_stay_below_the_alias(bundle: Path, machine_b: Path) -> None:
    def manifest(doc: dict[str, Any]) -> None:
        doc["aliases"]["EVIL"] = {
            "value": None, "files": 1, "included": False, "samples": ["../../../etc/passwd"]
        }  # fmt: skip

    bad = craft(bundle, bundle.with_name("x.tercet"), manifest=manifest)
    refused(bad, machine_b, r"alias <EVIL> lists sample paths", aliases={"EVIL": "/tmp"})


def test_manifest_object_whose_project_differs_from_its_path(bundle: Path, machine_b: Path) -> None:
    def manifest(doc: dict[str, Any]) -> None:
        doc["objects"][0]["project"] = "mine"

    bad = craft(bundle, bundle.with_name("x.tercet"), manifest=manifest)
    refused(bad, machine_b, r"names project 'mine', not 'demo'")


# -- interrupted imports -----------------------------------------------------------------------
IMAGES = 2000


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    code = "from tercet.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _files(root: Path) -> list[tuple[str, str]]:
    """Every file under ``root``, hidden ones too, with its checksum."""
    out = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            out.append((str(path.relative_to(root)), hashlib.sha256(path.read_bytes()).hexdigest()))
    return sorted(out)


def _count(folder: Path) -> int:
    """Files under ``folder``, hidden ones too: new data folders are built in a hidden sibling
    and moved into place whole, so the visible folder fills all at once."""
    return sum(len(names) for _, _, names in os.walk(folder))


def _visible_objects(root: Path) -> list[str]:
    tables = (
        [t.url for t in tercet.list_tables("demo", root=str(root))]
        if (root / "demo").exists()
        else []
    )
    runs = [str(p.parent) for p in root.glob("demo/runs/*/object.json")]
    return tables + runs


def test_import_stopped_by_any_signal_leaves_no_object_and_a_rerun_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_service: Any
) -> None:
    a = train_on_a(tmp_path / "A", monkeypatch, n=6)
    write_images(a.data, IMAGES)  # 2,000 images under <PROJECT_DATA>, a table and a run
    big = tercet.Table.create(
        {"image": [str(a.data / "img" / f"{i}.png") for i in range(IMAGES)]},
        project="demo", dataset="shapes", name="big", roles={"image": "image"},
    )  # fmt: skip
    run = tercet.init(project="demo", run="big-run", heartbeat=False)
    run.write_metrics(
        big, {"example_id": big.example_ids(), "loss": [0.0] * IMAGES}, epoch=0, split="train"
    )
    run.close()
    bundle = tmp_path / "big.tercet"
    share.export_bundle([run.url, a.run], str(bundle), include_data=True)

    clean = tmp_path / "clean"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "TERCET_CONFIG": str(tmp_path / "b.yaml"),
    }
    done = _cli("share", "import", str(bundle), "--root", str(clean), env=env)
    assert done.wait(60) == 0, done.stderr.read() if done.stderr else ""

    root = use_machine(monkeypatch, tmp_path / "B")  # the service's root is machine B's
    service = start_service(scan_interval=3600)
    images = root / "demo" / "data"
    for sig, after in [
        (signal.SIGKILL, 150),
        (signal.SIGTERM, 400),
        (signal.SIGHUP, 900),
        (signal.SIGINT, 1300),
        (signal.SIGKILL, 1800),
    ]:
        start = _count(images)
        proc = _cli("share", "import", str(bundle), "--root", str(root), env=env)
        deadline = time.monotonic() + 30
        while _count(images) < min(start + after, IMAGES + 6) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(sig)
        code = proc.wait(30)
        if code == 0:
            continue  # it finished first: nothing left to interrupt at this point
        assert code != 0
        assert _visible_objects(root) == [], f"after {sig.name}"
        service.scan()
        listed = {
            p["name"]: (p["tables"], p["runs"]) for p in service.client.get("/api/projects").json()
        }
        assert listed.get("demo", (0, 0)) == (0, 0), f"the service lists objects after {sig.name}"
        if sig != signal.SIGKILL:  # it could act: it removed what it wrote
            assert _count(images) <= start
    again = _cli("share", "import", str(bundle), "--root", str(root), env=env)
    assert again.wait(60) == 0, again.stderr.read() if again.stderr else ""
    assert _files(root) == _files(clean)
    assert len(_visible_objects(root)) == len(_visible_objects(clean)) == 5
    assert (
        tercet.Run.open(str(root / "demo" / "runs" / "big-run")).metrics("train").num_rows == IMAGES
    )
    storage.walk_files(str(root))  # listable


@pytest.mark.s3
def test_import_into_s3_killed_midway_is_invisible_and_completes_on_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    a = train_on_a(tmp_path / "A", monkeypatch, n=120)
    bundle = tmp_path / "b.tercet"
    share.export_bundle([a.run], str(bundle), include_data=True)
    bucket = request.getfixturevalue("s3_bucket")
    clean, target = f"{bucket}/clean", f"{bucket}/team"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "TERCET_CONFIG": str(tmp_path / "b.yaml"),
    }
    assert _cli("share", "import", str(bundle), "--root", clean, env=env).wait(120) == 0
    images = f"{target}/demo/data/PROJECT_DATA/img"
    proc = _cli("share", "import", str(bundle), "--root", target, env=env)
    deadline = time.monotonic() + 60
    while proc.poll() is None and len(storage.ls(images) if storage.exists(images) else []) < 30:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait(30)
    # On S3 an object is visible when its object.json is.
    assert [u for u in storage.walk_files(target) if u.endswith("/object.json")] == []
    assert _cli("share", "import", str(bundle), "--root", target, env=env).wait(120) == 0

    def files(prefix: str) -> list[tuple[str, str]]:
        return sorted(
            (u[len(prefix) :], hashlib.sha256(storage.read_bytes(u)).hexdigest())
            for u in storage.walk_files(prefix)
        )

    assert files(target) == files(clean)


def test_input_copied_into_a_final_event_that_leaves_the_project_is_refused(
    bundle: Path, machine_b: Path
) -> None:
    """Readers use a final event's copies instead of the event files: the copies are fenced too."""
    from tercet.runs import eventlog

    def edit(name: str, data: bytes) -> bytes:
        if not (name.startswith(RUN + "events/") and eventlog.kind_of(name) in eventlog.FINAL):
            return data
        doc = json.loads(data)
        for copy in doc[eventlog.SUMMARY]["events"].values():
            if copy.get("type") == "input":
                copy["table"] = "/etc"
        return json.dumps(doc).encode()

    bad = craft(bundle, bundle.with_name("x.tercet"), edit)
    refused(bad, machine_b, r"events/.*\.completed\.json: input table .*(leads out of|absolute)")
