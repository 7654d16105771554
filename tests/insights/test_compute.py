"""Each detector finds what was planted in the tiny world of ``conftest.py``; bad input says what
is missing and writes nothing."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

import tercet
from tercet import InsightsError, Table, storage
from tercet.insights import compute, duplicates, outliers, summary
from tercet.insights.neighbours import Neighbours
from tercet.insights.summary import classes as summary_classes
from tercet.insights.summary import low_accuracy_clusters
from tercet.runs import folder
from tests.insights.conftest import (
    BLURRED,
    DARK,
    EXACT,
    FLIPPED,
    NEAR,
    OUTLIER,
    SAME_EMBEDDING,
    N,
    World,
    texture,
    write_world,
)


def by_row(table: pa.Table, world: World, column: str) -> list[object]:
    """``column`` in the order of the world's rows (its example ids)."""
    ids = table.column("example_id").to_pylist()
    values = table.column(column).to_pylist()
    lookup = dict(zip(ids, values, strict=True))
    return [lookup[i] for i in world.table.example_ids().tolist()]


def rows_where(table: pa.Table, world: World, column: str) -> set[int]:
    return {i for i, v in enumerate(by_row(table, world, column)) if v}


def insights_files(world: World) -> list[str]:
    base = storage.join(world.run.url, folder.INSIGHTS)
    return storage.walk_files(base) if storage.exists(base) else []


def test_every_detector_finds_its_planted_problem(world: World) -> None:
    table = compute(world.run)
    ids = world.table.example_ids()
    # Label errors: the flipped ones rank first, are flagged, and get their true label back.
    score = np.array(by_row(table, world, "label_issue_score"), dtype=float)
    assert set(np.argsort(-score)[: len(FLIPPED)]) == set(FLIPPED)
    assert rows_where(table, world, "is_label_issue") == set(FLIPPED)
    suggested = by_row(table, world, "suggested_label")
    assert [suggested[i] for i in FLIPPED] == [int(world.true_labels[i]) for i in FLIPPED]
    assert all(suggested[i] is None for i in range(N) if i not in FLIPPED)
    # Each method keeps its own column; the dynamics rank the flipped labels worst.
    for column in ("aum", "dm_confidence"):
        values = np.array(by_row(table, world, column), dtype=float)
        assert set(np.argsort(values, kind="stable")[: len(FLIPPED)]) == set(FLIPPED), column
    # Most neighbours disagree with a flipped label, with 13 (its embedding is 12's) and with
    # the outlier (its neighbours are anyone).
    knn = np.array(by_row(table, world, "knn_label_score"), dtype=float)
    assert set(np.flatnonzero(knn > 0.5)) == {*FLIPPED, SAME_EMBEDDING[1], OUTLIER}
    # Duplicates: byte copies, a resized JPEG copy, identical embeddings — each pair one group.
    group = by_row(table, world, "duplicate_group")
    for a, b in (EXACT, NEAR, SAME_EMBEDDING):
        assert group[a] is not None and group[a] == group[b] == min(ids[a], ids[b])
    assert rows_where(table, world, "is_exact_duplicate") == set(EXACT)
    # Every planted pair joins samples of two classes (i % 3 differs): all conflict.
    conflicts = rows_where(table, world, "duplicate_label_conflict")
    assert conflicts == set(EXACT) | set(NEAR) | set(SAME_EMBEDDING)
    grouped = {i for i, g in enumerate(group) if g is not None}
    # Every planted pair joins samples of two classes (i % 3 differs): all conflict.
    assert rows_where(table, world, "duplicate_label_conflict") == grouped
    assert grouped == set(EXACT) | set(NEAR) | set(SAME_EMBEDDING)
    nearest = by_row(table, world, "nearest_id")
    a, b = SAME_EMBEDDING
    assert nearest[a] == ids[b] and nearest[b] == ids[a]
    assert by_row(table, world, "nearest_distance")[a] == pytest.approx(0.0, abs=1e-5)
    # The outlier, the blurred and the dark image, and nothing else.
    assert rows_where(table, world, "is_outlier") == {OUTLIER}
    outlier = np.array(by_row(table, world, "outlier_score"), dtype=float)
    assert int(np.argmax(outlier)) == OUTLIER
    within_class = np.array(by_row(table, world, "class_outlier_score"), dtype=float)
    assert int(np.nanargmax(within_class)) == OUTLIER
    assert rows_where(table, world, "is_blurry") == {BLURRED}
    assert rows_where(table, world, "is_dark") == {DARK}
    for check in ("bright", "near_constant", "odd_size", "odd_aspect_ratio", "low_information"):
        assert rows_where(table, world, f"is_{check}") == set(), check


def test_scores_are_written_once_under_the_run_and_read_back(world: World) -> None:
    table = compute(world.run)
    files = insights_files(world)
    assert len(files) == 1 and "/insights/train/" in files[0]
    assert world.run.insights("train").equals(table)
    found = summary(world.run, "train")
    counts = {i["type"]: i["count"] for i in found["issues"]}
    assert counts["label_issue"] == len(FLIPPED) and counts["outlier"] == 1
    top = next(i["top"] for i in found["issues"] if i["type"] == "label_issue")
    assert set(top[:3]) == {int(world.table.example_ids()[i]) for i in FLIPPED}
    assert [c["name"] for c in found["classes"]] == ["cat", "dog", "eel"]
    assert found["epochs"] == [0, 1, 2, 3]


def test_scores_are_deterministic(world: World) -> None:
    first = compute(world.run)
    second = compute(world.run)
    assert first.equals(second)
    assert world.run.insights().equals(second)  # the newer file wins


def test_a_run_without_embeddings_runs_the_other_checks_and_says_what_is_missing(
    root: Path,
) -> None:
    world = write_world(root, with_embeddings=False)
    table = compute(world.run)
    assert rows_where(table, world, "is_label_issue") == set(FLIPPED)
    assert rows_where(table, world, "is_exact_duplicate") == set(EXACT)
    # Every planted pair joins samples of two classes (i % 3 differs): all conflict.
    conflicts = rows_where(table, world, "duplicate_label_conflict")
    assert conflicts == set(EXACT) | set(NEAR)  # no embeddings: the equal embeddings unseen
    assert table.column("outlier_score").null_count == N
    skipped = summary(world.run)["skipped"]
    assert "embedding" in skipped["outliers"] and "EmbeddingCollector" in skipped["outliers"]
    before = insights_files(world)
    with pytest.raises(InsightsError, match=r"outliers needs more: .*no embedding column"):
        compute(world.run, checks=["outliers"])
    assert insights_files(world) == before


def test_a_regression_run_gets_a_clear_error_and_nothing_is_written(root: Path) -> None:
    n = 20
    table = Table.create({"target": np.linspace(0, 1, n)}, project="p", dataset="d", name="t")
    run = tercet.init(project="p", run="regression", heartbeat=False)
    for epoch in range(2):
        data = {"example_id": table.example_ids(), "loss": np.full(n, 0.1, np.float32)}
        run.write_metrics(table, data, epoch=epoch, split="train", roles={"loss": "loss"})
    run.close()
    with pytest.raises(InsightsError, match=r"No insight applies.*no integer label column"):
        compute(run)
    assert not storage.exists(storage.join(run.url, folder.INSIGHTS))
    with pytest.raises(InsightsError, match=r"no insights for split 'train'.*compute"):
        run.insights("train")


def test_a_missing_image_is_named_and_nothing_is_written(world: World) -> None:
    gone = Path(world.root / "images" / "017.png")
    gone.unlink()
    with pytest.raises(InsightsError, match=r"1 of 60 images could not be read: .*017\.png"):
        compute(world.run)
    assert insights_files(world) == []
    table = compute(world.run, checks=["label", "outliers"])  # the checks without images run
    assert rows_where(table, world, "is_label_issue") == set(FLIPPED)


def test_unknown_split_and_check_are_clear_errors(world: World) -> None:
    with pytest.raises(InsightsError, match=r"no metrics for split 'val'.*train"):
        compute(world.run, split="val")
    with pytest.raises(InsightsError, match=r"Unknown checks \['typo'\]"):
        compute(world.run, checks=["typo"])
    assert insights_files(world) == []


def test_init_with_insights_computes_them_at_close(root: Path) -> None:
    world = write_world(root, name="first")
    run = tercet.init(project="p", run="at-close", heartbeat=False, insights=True)
    ids = world.table.example_ids()
    for epoch in range(3):
        prediction = np.asarray(world.given)
        data = {"example_id": ids, "loss": np.full(N, 0.2, np.float32), "prediction": prediction}
        run.write_metrics(world.table, data, epoch=epoch, split="train",
                          roles={"loss": "loss", "prediction": "prediction"})  # fmt: skip
    run.close()
    assert run.insights("train").num_rows == N


def test_copies_in_another_split_are_flagged_as_leakage(world: World) -> None:
    """Train/val leakage three ways: a byte copy of a train file, a resized JPEG of another, an
    embedding equal to a third; the strongest evidence names the match."""
    train = world.run.metrics("train", epoch=3)
    emb = np.array(train.column("embedding").to_pylist(), dtype=np.float32)
    ids = world.table.example_ids()
    folder_ = world.root / "val-images"
    folder_.mkdir()
    paths = []
    for i in range(5):
        path = folder_ / f"{i}.png"
        texture(100 + i).save(path)
        paths.append(str(path))
    (folder_ / "0.png").write_bytes((world.root / "images" / "015.png").read_bytes())
    texture(16).resize((52, 52), Image.Resampling.BILINEAR).save(folder_ / "1.jpg", quality=90)
    paths[1] = str(folder_ / "1.jpg")
    val = Table.create({"label": np.zeros(5, np.int32), "image": paths}, project="p",
                       dataset="d", name="val", roles={"image": "image"})  # fmt: skip
    val_ids = val.example_ids()
    rng = np.random.default_rng(5)
    val_emb = rng.normal(0, 1, (5, emb.shape[1])).astype(np.float32) * 5
    val_emb[2] = emb[train.column("example_id").to_pylist().index(int(ids[3]))]
    run = tercet.Run.open(world.run.url)
    run.write_metrics(val, {"example_id": val_ids, "embedding": val_emb}, epoch=0, split="val")
    table = compute(run)
    assert rows_where(table, world, "is_cross_split_duplicate") == {3, 15, 16}
    assert {by_row(table, world, "cross_split")[i] for i in (3, 15, 16)} == {"val"}
    cross_id = by_row(table, world, "cross_split_id")
    assert [cross_id[i] for i in (15, 16, 3)] == [int(val_ids[0]), int(val_ids[1]), int(val_ids[2])]
    match = by_row(table, world, "cross_split_match")
    assert [match[i] for i in (15, 16, 3)] == ["exact", "perceptual", "embedding"]
    counts = {i["type"]: i["count"] for i in summary(run, "train")["issues"]}
    assert counts["cross_split_duplicate"] == 3


def test_only_groups_holding_two_labels_are_label_conflicts() -> None:
    ids = np.array([10, 11, 12, 13, 14, 15], dtype=np.int64)
    labels = np.array([0, 0, 1, 2, 2, -1])
    pairs = [(np.array([0, 2]), np.array([1, 3])), (np.array([3]), np.array([4]))]
    g = duplicates.group(ids, labels, pairs, (np.array([0]), np.array([1])))
    assert g.group.tolist() == [10, 10, 12, 12, 12, -1]
    assert g.label_conflict.tolist() == [False, False, True, True, True, False]
    assert g.exact.tolist() == [True, True, False, False, False, False]


def test_within_class_outlier_scores_come_from_the_one_wide_search() -> None:
    """k = 2 from a search 4 deep: the nearest two of the sample's class; one not found counts
    as the deepest distance searched; a class of two has one other to find; no label, no score."""
    labels = np.array([0, 0, 0, 0, 1, 1, -1])
    rows = [[4, 5, 6, 1], [0, 2, 4, 5], [0, 1, 3, 4], [2, 1, 0, 4], [0, 1, 5, 2], [4, 0, 1, 2]]
    index = np.array([*rows, [0, 1, 2, 3]])
    distance = np.tile(np.array([0.1, 0.2, 0.3, 0.4], np.float32), (7, 1))
    o = outliers.outliers(Neighbours(index, distance), labels, 2)
    expected = [0.4, 0.15, 0.15, 0.15, 0.3, 0.1, np.nan]
    np.testing.assert_allclose(o.class_score, expected, rtol=1e-6)  # type: ignore[arg-type]
    np.testing.assert_allclose(o.score, 0.15, rtol=1e-6)  # the global score: the first k


def test_an_isolated_sample_ranks_below_one_whose_close_neighbours_disagree() -> None:
    labels = np.array([0, 1, 1, 1, 0, 1, 1, 1])
    index = np.array([[1, 2, 3], [2, 3, 0], [1, 3, 0], [1, 2, 0],
                      [5, 6, 7], [6, 7, 4], [5, 7, 4], [5, 6, 4]])  # fmt: skip
    distance = np.full((8, 3), 0.05, np.float32)
    distance[4] = [1.5, 1.6, 1.7]  # sample 4's neighbours are all far away
    score = outliers.label_purity(Neighbours(index, distance), labels).score
    assert score[0] > 0.7 and score[4] == pytest.approx(0.5, abs=1e-6)  # 4: a random label's


def test_samples_of_embedding_clusters_far_below_the_average_accuracy_are_flagged() -> None:
    cluster = np.array([0] * 200 + [1] * 30 + [2] * 10, dtype=np.int32)
    labels = np.zeros(240, dtype=np.int64)
    prediction = labels.copy()
    prediction[200:215] = 1  # cluster 1 at 50% against 90% overall
    prediction[230:] = 1  # cluster 2 at 0%, but too small to say
    labels[229] = -1  # no label, no flag
    weak = low_accuracy_clusters(cluster, labels, prediction)
    assert np.flatnonzero(weak).tolist() == list(range(200, 229))


def test_the_summary_names_weak_classes_and_the_imbalance() -> None:
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    prediction = labels.copy()
    prediction[90:96] = 0  # class 2 at 40% against 94% overall
    prediction[0] = 1
    found, imbalance, accuracy = summary_classes(labels, prediction, {0: "a", 1: "b", 2: "c"})
    assert [c["name"] for c in found] == ["a", "b", "c"]
    assert [c["low_accuracy"] for c in found] == [False, False, True]
    assert found[2]["accuracy"] == pytest.approx(0.4) and found[2]["share"] == pytest.approx(0.1)
    assert imbalance == 6.0 and accuracy == pytest.approx(0.93)


def test_epoch_scores_as_of_that_epoch(root: Path) -> None:
    world = write_world(root, with_images=False)
    early = compute(world.run, epoch=1, checks=["label"])
    assert summary(world.run)["epochs"] == [0, 1]
    # The epochs past 1 are left out: AUM is the mean of the margins of epochs 0 and 1.
    margins = world.run.metrics("train", columns=["margin"]).to_pandas()
    expected = margins[margins.epoch <= 1].groupby("example_id").margin.mean()
    aum = dict(zip(early["example_id"].to_pylist(), early["aum"].to_pylist(), strict=True))
    for example_id, value in expected.items():
        assert aum[example_id] == pytest.approx(value, abs=1e-6)


def test_confident_learning_on_one_epoch_of_probabilities(root: Path) -> None:
    """A val split collected once: no training dynamics, so cleanlab's flags lead."""
    n, classes = 90, 3
    rng = np.random.default_rng(0)
    true = np.arange(n) % classes
    given = true.copy()
    flipped = [4, 40, 77]
    given[flipped] = (true[flipped] + 1) % classes
    table = Table.create({"label": given.astype(np.int32)}, project="p", dataset="d",
                         name="val", roles={"label": "label"})  # fmt: skip
    probs = np.full((n, classes), 0.05) + rng.uniform(0, 0.05, (n, classes))
    probs[np.arange(n), true] = 0.9  # out-of-sample: the model sees the true class
    probs /= probs.sum(1, keepdims=True)
    run = tercet.init(project="p", run="cl", heartbeat=False)
    run.write_metrics(
        table,
        {"example_id": table.example_ids(), "loss": -np.log(probs[np.arange(n), given]),
         "prediction": probs.argmax(1), "probabilities": probs.astype(np.float32)},
        epoch=0, split="val",
        roles={"loss": "loss", "prediction": "prediction", "probabilities": "probabilities"},
    )  # fmt: skip
    run.close()
    scores = compute(run, split="val", checks=["label"])
    ids = table.example_ids()
    issues = scores.filter(scores["is_label_issue"])["example_id"]
    flagged = set(np.flatnonzero(np.isin(ids, issues)).tolist())
    # The flag is cleanlab's own (here it is sure of one of the three; the ranking has all).
    from cleanlab.filter import find_label_issues

    assert flagged == set(np.flatnonzero(find_label_issues(given, probs)).tolist()) == {77}
    cl = dict(zip(scores["example_id"].to_pylist(), scores["cl_score"].to_pylist(), strict=True))
    assert set(np.argsort([-cl[int(i)] for i in ids])[:3]) == set(flipped)
    suggested = dict(zip(scores["example_id"].to_pylist(), scores["suggested_label"].to_pylist(),
                         strict=True))  # fmt: skip
    assert suggested[int(ids[77])] == int(true[77])


def test_images_on_s3_behind_an_alias_are_read_and_scored(s3_root: str) -> None:
    """The image pass reads through Tercet's storage: an alias expanded to an S3 folder."""
    from tercet import aliases

    folder_ = storage.join(s3_root, "images")
    names = []
    for i in range(8):
        image = texture(i)
        if i == 3:
            image = Image.fromarray((np.asarray(image) * 0.08).astype(np.uint8))
        buf = io.BytesIO()
        image.save(buf, "PNG")
        storage.write_bytes(storage.join(folder_, f"{i}.png"), buf.getvalue())
        names.append(f"<S3_IMAGES>/{i}.png")
    storage.write_bytes(storage.join(folder_, "7.png"), storage.read_bytes(
        storage.join(folder_, "2.png")), overwrite=True)  # fmt: skip
    table = Table.create({"image": names}, project="p", dataset="d", name="train",
                         roles={"image": "image"})  # fmt: skip
    aliases.set_project_alias(table.project_url, "S3_IMAGES", folder_)
    run = tercet.init(project="p", run="s3", heartbeat=False)
    run.write_metrics(table, {"example_id": table.example_ids(), "loss": np.zeros(8, np.float32)},
                      epoch=0, split="train", roles={"loss": "loss"})  # fmt: skip
    run.close()
    scores = compute(run, checks=["quality", "duplicates"]).sort_by("example_id")
    assert scores["is_dark"].to_pylist() == [i == 3 for i in range(8)]
    assert scores["is_exact_duplicate"].to_pylist() == [i in (2, 7) for i in range(8)]
