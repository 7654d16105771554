"""The Object Service over a project root on local disk and on S3: listing, rows as Arrow,
revisions written back into the store, and data files served through aliases that point at a
bucket (written on a "training VM" whose alias pointed at a local folder)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

import tercet
from tercet import storage

if TYPE_CHECKING:
    from tests.fixtures.service import StartService


@pytest.fixture
def table(local_or_s3_root: str) -> tercet.Table:
    return tercet.Table.create(
        {"label": np.arange(30) % 3, "score": np.linspace(0, 1, 30)},
        project="p", dataset="d", name="train", value_maps={"label": ["a", "b", "c"]},
    )  # fmt: skip


def _arrow(content: bytes) -> pa.Table:
    return pa.ipc.open_stream(content).read_all()


def test_service_lists_and_serves_rows_from_the_store(
    table: tercet.Table, start_service: StartService
) -> None:
    run = tercet.init(project="p", run="r1", heartbeat=False)
    run.write_metrics(
        table, {"example_id": table.example_ids(), "loss": np.arange(30, dtype=np.float32)},
        epoch=0, split="train", roles={"loss": "loss"},
    )  # fmt: skip
    run.close()
    client = start_service().client
    projects = client.get("/api/projects").raise_for_status().json()
    assert [(p["name"], p["tables"], p["runs"]) for p in projects] == [("p", 1, 1)]
    runs = client.get("/api/projects/p/runs").raise_for_status().json()
    assert runs[0]["url"] == run.url and runs[0]["status"] == "completed"

    source = json.dumps({"table": table.url})
    sort = json.dumps([{"column": "score", "desc": True}])
    response = client.get("/api/rows", params={"source": source, "sort": sort, "limit": 5})
    rows = _arrow(response.raise_for_status().content)
    assert rows.column("example_id").to_pylist() == [29, 28, 27, 26, 25]

    source = json.dumps({"run": run.url, "split": "train", "epoch": 0})
    rows = _arrow(client.get("/api/rows", params={"source": source, "limit": 100}).content)
    assert rows.num_rows == 30 and "loss" in rows.column_names


def test_revisions_posted_to_the_service_land_in_the_store(
    table: tercet.Table, start_service: StartService, local_or_s3_root: str
) -> None:
    client = start_service().client
    body = {
        "base": table.url,
        "message": "relabel from the dashboard",
        "edits": {"set": [{"column": "label", "example_id": 4, "value": 0}], "delete": [7]},
    }
    created = client.post("/api/revisions", json=body).raise_for_status().json()
    url = created["url"]
    assert url.startswith(storage.join(local_or_s3_root, "p", "datasets", "d", "tables"))
    revision = tercet.Table.open(url)
    assert revision.parent_url == table.url
    assert table.latest().url == url
    assert revision.to_pandas().set_index("example_id").loc[4, "label"] == 0
    assert 7 not in revision.example_ids()


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.s3
def test_images_written_with_a_local_alias_are_read_through_an_s3_alias(
    s3_root: str, s3_bucket: str, tmp_path: Path, start_service: StartService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # On the training VM: images under a local folder, PROJECT_DATA points there.
    vm_data = tmp_path / "vm" / "data"
    (vm_data / "img").mkdir(parents=True)
    colors = ["red", "green", "blue"]
    for i, color in enumerate(colors):
        (vm_data / "img" / f"{i}.png").write_bytes(_png(color))
    tercet.aliases.set("PROJECT_DATA", str(vm_data))
    table = tercet.Table.create(
        {"image": [str(vm_data / "img" / f"{i}.png") for i in range(3)], "label": [0, 1, 2]},
        project="p", dataset="d", name="images", roles={"image": "image"},
    )  # fmt: skip
    assert table.rows[0]["image"] == "<PROJECT_DATA>/img/0.png"  # stored location-independent
    # The same images live in the bucket (copied there by the pipeline that feeds the VMs).
    data_url = f"{s3_bucket}/project-data"
    for i in range(3):
        storage.write_bytes(f"{data_url}/img/{i}.png", (vm_data / "img" / f"{i}.png").read_bytes())
    tercet.aliases.clear()
    shutil.rmtree(vm_data)  # the VM is gone

    # On the service machine: PROJECT_DATA points at the bucket, set in the environment.
    monkeypatch.setenv("TERCET_ALIAS_PROJECT_DATA", data_url)
    opened = tercet.Table.open(table.url)
    sample = opened[1]
    assert isinstance(sample["image"], Image.Image)
    assert sample["image"].getpixel((0, 0)) == (0, 128, 0)

    client = start_service().client
    response = client.get("/api/file", params={"url": "<PROJECT_DATA>/img/2.png"})
    assert response.raise_for_status().content == _png("blue")
    assert response.headers["content-type"] == "image/png"
    thumb = client.get("/api/file", params={"url": "<PROJECT_DATA>/img/0.png", "thumb": 16})
    assert Image.open(io.BytesIO(thumb.raise_for_status().content)).size[0] <= 16
    outside = client.get("/api/file", params={"url": f"{s3_bucket}/elsewhere.png"})
    assert outside.status_code == 403
