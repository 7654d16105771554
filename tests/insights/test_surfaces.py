"""Insights through the real Object Service, the CLI and the classification collector."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from typer.testing import CliRunner

import tercet
from tercet import Table
from tercet.cli import app
from tercet.insights import compute
from tercet.service.insights import MAX_UPLOAD_BYTES
from tests.fixtures.service import RunningService
from tests.insights.conftest import (
    EXACT,
    FLIPPED,
    SAME_EMBEDDING,
    N,
    World,
    texture,
    write_world,
)


def rows(service: RunningService, body: dict[str, Any]) -> pa.Table:
    response = service.client.post("/api/rows", json=body)
    assert response.status_code == 200, response.text
    return pa.ipc.open_stream(response.content).read_all()


def test_the_service_joins_scores_to_rows_and_filters_by_them(
    service: RunningService, world: World
) -> None:
    compute(world.run)
    service.scan()
    source = {"run": world.run.url, "split": "train"}
    flagged = rows(
        service,
        {
            "source": source,
            "columns": ["label", "loss", "is_label_issue", "label_issue_score"],
            "filter": {"column": "is_label_issue", "op": "eq", "value": True},
            "sort": [{"column": "label_issue_score", "desc": True}],
        },
    )
    ids = world.table.example_ids()
    assert set(flagged.column("example_id").to_pylist()) == {int(ids[i]) for i in FLIPPED}
    assert flagged.column("is_label_issue").to_pylist() == [True] * len(FLIPPED)
    scores = flagged.column("label_issue_score").to_pylist()
    assert scores == sorted(scores, reverse=True)

    summary = service.client.get(
        "/api/insights/summary", params={"run": world.run.url, "split": "train"}
    )
    assert summary.status_code == 200, summary.text
    issues = {i["type"]: i for i in summary.json()["issues"]}
    assert issues["label_issue"]["count"] == len(FLIPPED)
    assert issues["label_issue"]["flag"] == "is_label_issue"

    a, b = SAME_EMBEDDING
    similar = service.client.post(
        "/api/similar", json={**source, "example_id": int(ids[a]), "k": 3}
    )
    assert similar.status_code == 200, similar.text
    found = similar.json()["samples"]
    assert len(found) == 3 and found[0]["example_id"] == int(ids[b])
    assert found[0]["distance"] == pytest.approx(0.0, abs=1e-5)
    assert int(ids[a]) not in [s["example_id"] for s in found]
    check_similar_by_upload(service, world)  # shares this service and computation: +2 s


def test_the_service_says_when_a_split_has_no_insights(
    service: RunningService, world: World
) -> None:
    response = service.client.get(
        "/api/insights/summary", params={"run": world.run.url, "split": "train"}
    )
    assert response.status_code == 404
    assert "no insights for split 'train'" in response.json()["detail"]
    missing = service.client.post(
        "/api/similar", json={"run": world.run.url, "split": "train", "example_id": 10**9}
    )
    assert missing.status_code == 404 and "No example_id" in missing.json()["detail"]


def test_cli_prints_the_summary_and_escapes_user_text(root: Path) -> None:
    world = write_world(root, with_images=False)
    table = Table.open(world.table.url).set_value_map(
        "label", ["[red]cat[/red]", "dog", "eel"], message="names with markup"
    )
    assert table.schema["label"].value_map is not None
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, ["insights", world.run.url, "--compute", "--check", "label"])
    assert result.exit_code == 0, result.output
    assert "likely mislabelled" in result.output and "is_label_issue = true" in result.output
    as_json = runner.invoke(app, ["insights", world.run.url, "--json"])
    found = json.loads(as_json.output)
    assert found["issues"][0]["count"] == len(FLIPPED) and found["checks"] == ["label"]
    # The run's metrics refer to the revision they were collected on; name a class with markup
    # there and it prints literally.
    run = tercet.init(project="p", run="markup", heartbeat=False)
    for epoch in range(2):
        data = {"example_id": table.example_ids(), "loss": np.full(N, 0.3, np.float32),
                "prediction": np.zeros(N, np.int32)}  # fmt: skip
        run.write_metrics(table, data, epoch=epoch, split="train",
                          roles={"loss": "loss", "prediction": "prediction"})  # fmt: skip
    run.close()
    printed = runner.invoke(app, ["insights", run.url, "--compute"])
    assert printed.exit_code == 0, printed.output
    assert "[red]cat[/red]" in printed.output


def test_cli_names_what_is_missing(root: Path) -> None:
    world = write_world(root, with_images=False)
    result = CliRunner().invoke(app, ["insights", world.run.url])
    assert result.exit_code != 0
    assert "no insights for split 'train'" in str(result.exception)


def test_classification_collector_stores_label_probability_margin_and_top_k(root: Path) -> None:
    import torch

    n, classes = 12, 4
    table = Table.create(
        {"x": np.arange(n, dtype=np.float32), "label": (np.arange(n) % classes).astype(np.int32)},
        project="p", dataset="d", name="t", value_maps={"label": list("abcd")},
    )  # fmt: skip
    logits = torch.randn(n, classes, generator=torch.Generator().manual_seed(0))

    class Fixed(torch.nn.Module):
        def forward(self, batch: dict[str, Any]) -> torch.Tensor:
            return logits[batch["x"].long()]

    run = tercet.init(project="p", run="collect", heartbeat=False)
    collector = tercet.ClassificationCollector(label="label", top_k=2)
    tercet.collect_metrics(table, [collector], Fixed(), split="train", wait=True,
                           inputs=lambda b: b)  # fmt: skip
    got = run.metrics("train", epoch=0)
    probs = torch.softmax(logits, 1).numpy()
    label = np.arange(n) % classes
    given = probs[np.arange(n), label]
    others = probs.copy()
    others[np.arange(n), label] = -1
    np.testing.assert_allclose(got.column("label_probability").to_numpy(), given, rtol=1e-5)
    np.testing.assert_allclose(got.column("margin").to_numpy(), given - others.max(1), atol=1e-6)
    top = np.array(got.column("top_labels").to_pylist())
    assert (top == np.argsort(-probs, 1)[:, :2]).all()
    top_p = np.array(got.column("top_probabilities").to_pylist())
    np.testing.assert_allclose(top_p, -np.sort(-probs, 1)[:, :2], rtol=1e-5)
    run.close()


def _png_announcing(width: int, height: int) -> bytes:
    """A valid 1×1 PNG whose header claims ``width × height`` (a decompression bomb's shape)."""
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def check_similar_by_upload(service: RunningService, world: World) -> None:
    """Similar samples by an uploaded image, on a service whose split has insights."""
    ids = world.table.example_ids()
    params: dict[str, str | int] = {"run": world.run.url, "split": "train", "k": 3}

    def upload(body: bytes, kind: str = "image/png") -> Any:
        return service.client.post(
            "/api/similar/image", params=params, content=body, headers={"Content-Type": kind}
        )

    a, b = EXACT
    copy = upload((world.root / "images" / f"{a:03d}.png").read_bytes())
    assert copy.status_code == 200, copy.text
    found = copy.json()
    assert found["space"] == "perceptual_hash"
    assert found["exact"] == sorted([int(ids[a]), int(ids[b])])
    assert [s["example_id"] for s in found["samples"][:2]] == sorted([int(ids[a]), int(ids[b])])
    assert found["samples"][0]["distance"] == 0.0
    # A resized, re-encoded photo of sample 8 finds sample 8 first, within the duplicate bound.
    buf = io.BytesIO()
    texture(8).resize((64, 64), Image.Resampling.BILINEAR).save(buf, "JPEG", quality=80)
    resized = upload(buf.getvalue(), "image/jpeg").json()
    assert resized["exact"] == []
    assert resized["samples"][0]["example_id"] == int(ids[8])
    assert resized["samples"][0]["distance"] <= resized["near_duplicate_distance"]
    # Hostile input: a clear 4xx each.
    wrong = upload(b"{}", "application/json")
    assert wrong.status_code == 415 and "not an image upload" in wrong.json()["detail"]
    big = upload(b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert big.status_code == 413 and "over 20,971,520 bytes" in big.json()["detail"]
    bomb = upload(_png_announcing(10_000, 5_000))  # over service.max_image_pixels (40M)
    assert bomb.status_code == 413 and "10000x5000 = 50,000,000 pixels" in bomb.json()["detail"]
    huge = upload(_png_announcing(100_000, 100_000))  # over Pillow's own limit too
    assert huge.status_code == 413 and "Pillow's limit" in huge.json()["detail"]
    garbage = upload(b"not a png at all")
    assert garbage.status_code == 422 and "not a readable image" in garbage.json()["detail"]
    other = service.client.post(
        "/api/similar/image", params={**params, "split": "val"}, content=b"x",
        headers={"Content-Type": "image/png"},
    )  # fmt: skip
    assert other.status_code == 404 and "no insights for split 'val'" in other.json()["detail"]
