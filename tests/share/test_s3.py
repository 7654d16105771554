"""Sharing across stores: a run exported from one root (local disk or S3) to a bundle (a local
file or an S3 object) and imported into a root on the other store, with every object intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tercet
from tercet import share, storage

pytestmark = pytest.mark.s3


def _make_run(project: str) -> tuple[tercet.Table, tercet.Run]:
    table = tercet.Table.create(
        {"label": np.arange(20) % 2, "score": np.linspace(0, 1, 20)},
        project=project, dataset="d", name="train", value_maps={"label": ["no", "yes"]},
    )  # fmt: skip
    edited = table.set_values("label", [3], [0], message="fix")
    run = tercet.init(project=project, run="r1", parameters={"lr": 0.3}, heartbeat=False)
    tercet.log({"loss": 0.5}, step=0, epoch=0)
    run.write_metrics(
        edited, {"example_id": edited.example_ids(), "loss": np.ones(20, np.float32)},
        epoch=0, split="train", roles={"loss": "loss"},
    )  # fmt: skip
    run.close()
    return edited, run


def _check_imported(result: share.ImportResult, root: str) -> None:
    runs = [o for o in result.objects if o["kind"] == "run"]
    assert len(runs) == 1 and runs[0]["url"].startswith(root)
    run = tercet.Run.open(runs[0]["url"])
    assert run.status == "completed" and run.parameters == {"lr": 0.3}
    assert run.metrics("train", epoch=0).num_rows == 20
    table = tercet.Table.open(run.inputs[0]["table"])
    assert table.url.startswith(root)
    assert table.to_pandas().set_index("example_id").loc[3, "label"] == 0


def test_run_on_s3_exported_to_a_bucket_imports_into_local_disk(
    s3_root: str, s3_bucket: str, tmp_path: Path
) -> None:
    _, run = _make_run("p")
    bundle = f"{s3_bucket}/bundles/r1.tercet"
    share.export_bundle([run.url], bundle)
    assert storage.exists(bundle)
    assert storage.walk_files(f"{s3_bucket}/bundles") == [bundle]  # nothing half-written beside
    local_root = str(tmp_path / "elsewhere")
    result = share.import_bundle(bundle, root=local_root)
    _check_imported(result, local_root)


def test_local_run_exported_to_a_file_imports_into_s3(
    root: Path, s3_bucket: str, tmp_path: Path
) -> None:
    _, run = _make_run("p")
    bundle = str(tmp_path / "r1.tercet")
    share.export_bundle([run.url], bundle)
    s3_target = f"{s3_bucket}/team"
    result = share.import_bundle(bundle, root=s3_target)
    _check_imported(result, s3_target)
    before = storage.walk_files(s3_target)
    again = share.import_bundle(bundle, root=s3_target)  # the same objects: nothing rewritten
    assert {o["kind"]: o["status"] for o in again.objects} == {"table": "present", "run": "merged"}
    assert storage.walk_files(s3_target) == before
