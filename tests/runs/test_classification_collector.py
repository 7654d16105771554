# Over 400 lines: every column against NumPy on one set of logits, per batch, held, in parts.
"""Every column and aggregate of the classification collector, against numpy on known logits.

The model returns fixed logits per row, so each expected value is computed here independently of
the collector (log-softmax in float64), never from a column the collector wrote.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch
from torch import nn

import tercet
from tercet import storage
from tercet.errors import RunError

CLASSES = 4
LABELS = np.array([0, 1, 2, 3, 1, 0, -1, 2, 7, 3, 4, 1], dtype=np.int32)  # -1, 7, 4: not a class


class Fixed(nn.Module):
    """Returns the preset scores of the rows whose positions it is given."""

    def __init__(self, scores: np.ndarray) -> None:
        super().__init__()
        self.scores = torch.as_tensor(scores, dtype=torch.float32)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.scores[index.long()]


def logits() -> np.ndarray:
    rng = np.random.default_rng(11)
    out = rng.normal(scale=2.0, size=(len(LABELS), CLASSES)).astype(np.float32)
    out[1] = [0.5, 4.0, 0.3, 0.1]  # predicted = label
    out[4] = [3.0, 0.2, 2.9, 0.0]  # the runner-up is close, so the margin is small and negative
    return out


def expected(scores: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    z = scores.astype(np.float64)
    log_p = z - z.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    p = np.exp(log_p)
    valid = (labels >= 0) & (labels < CLASSES)
    safe = np.where(valid, labels, 0)
    rows = np.arange(len(labels))
    given = np.where(valid, p[rows, safe], np.nan)
    others = p.copy()
    others[rows, safe] = -1
    order = np.argsort(-p, axis=1, kind="stable")
    return {
        "loss": np.where(valid, -log_p[rows, safe], np.nan),
        "label_probability": given,
        "margin": given - others.max(1),
        "confidence": p.max(1),
        "prediction": p.argmax(1),
        "top_labels": order[:, :2],
        "top_probabilities": np.take_along_axis(p, order[:, :2], 1),
        "probabilities": p,
        "valid": valid,
    }


def table(value_map: list[str] | None = None) -> tercet.Table:
    data = {"row": np.arange(len(LABELS), dtype=np.int64), "label": LABELS}
    if value_map is None:
        return tercet.Table.create(data, "p", "d", "t", roles={"label": "label"}, if_exists="reuse")
    labels = np.where((LABELS >= 0) & (LABELS < CLASSES), LABELS, 0).astype(np.int32)
    return tercet.Table.create({**data, "label": labels}, "p", "d", "named",
                               value_maps={"label": value_map})  # fmt: skip


def by_row(row: dict[str, Any]) -> tuple[torch.Tensor, int]:
    return torch.tensor(row["row"]), row["label"]


def collect(t: tercet.Table, collector: tercet.Collector, scores: np.ndarray) -> pa.Table:
    tercet.init(project="p")
    result = tercet.collect_metrics(t.map(by_row), [collector], Fixed(scores), batch_size=5,
                                    wait=True)  # fmt: skip
    written = storage.read_parquet(result["url"])
    order = np.argsort(written.column("example_id").to_numpy())
    out = written.take(pa.array(order))
    out = out.append_column("_aggregates", pa.array([result["aggregates"]] * out.num_rows))
    return out


def test_every_column_and_aggregate_equals_numpy() -> None:
    scores = logits()
    got = collect(table(), tercet.ClassificationCollector(top_k=2, probabilities=True), scores)
    want = expected(scores, LABELS)
    for name in ("loss", "label_probability", "margin", "confidence"):
        np.testing.assert_allclose(got.column(name).to_numpy(zero_copy_only=False), want[name],
                                   rtol=1e-5, atol=1e-6, err_msg=name)  # fmt: skip
        assert got.schema.field(name).type == pa.float32(), name
    assert got.column("prediction").to_numpy().tolist() == want["prediction"].tolist()
    assert got.schema.field("prediction").type == pa.int32()
    assert np.array(got.column("top_labels").to_pylist()).tolist() == want["top_labels"].tolist()
    assert got.schema.field("top_labels").type == pa.list_(pa.int32())
    assert got.schema.field("top_probabilities").type == pa.list_(pa.float32())
    np.testing.assert_allclose(np.array(got.column("top_probabilities").to_pylist()),
                               want["top_probabilities"], rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(np.array(got.column("probabilities").to_pylist()),
                               want["probabilities"], rtol=1e-5, atol=1e-7)  # fmt: skip
    assert (
        got.column("margin").to_numpy(zero_copy_only=False)[4]
        < 0
        < got.column("margin").to_numpy(zero_copy_only=False)[1]
    )
    valid = want["valid"]
    aggregates = got.column("_aggregates")[0].as_py()
    assert aggregates["loss"] == pytest.approx(float(want["loss"][valid].mean()), rel=1e-5)
    accuracy = float((want["prediction"][valid] == LABELS[valid]).mean())
    assert 0 < accuracy < 1
    assert aggregates["accuracy"] == pytest.approx(accuracy)


def test_probabilities_as_outputs_give_the_same_columns() -> None:
    scores = logits()
    p = expected(scores, LABELS)["probabilities"].astype(np.float32)
    from_logits = collect(table(), tercet.ClassificationCollector(), scores)
    from_probs = collect(table(), tercet.ClassificationCollector(logits=False), p)
    for name in ("loss", "label_probability", "margin", "confidence", "prediction"):
        np.testing.assert_allclose(from_probs.column(name).to_numpy(zero_copy_only=False),
                                   from_logits.column(name).to_numpy(zero_copy_only=False),
                                   rtol=1e-4, atol=1e-6, err_msg=name)  # fmt: skip


def test_top_k_beyond_the_classes_keeps_them_all_and_a_prefix_names_every_column() -> None:
    scores = logits()
    got = collect(table(), tercet.ClassificationCollector(top_k=9, prefix="b_"), scores)
    names = set(got.column_names) - {"example_id", "_aggregates"}
    assert names == {f"b_{n}" for n in ("loss", "prediction", "confidence", "label_probability",
                                        "margin", "top_labels", "top_probabilities")}  # fmt: skip
    tops = np.array(got.column("b_top_labels").to_pylist())
    assert tops.shape == (len(LABELS), CLASSES)
    assert tops.tolist() == np.argsort(-scores, axis=1, kind="stable").tolist()
    assert set(got.column("_aggregates")[0].as_py()) == {"b_loss", "b_accuracy"}


def test_one_class_lists_and_targets_of_shape_n_by_1() -> None:
    """top_k=1 gives one-item lists; targets collated as (batch, 1) are read as (batch,)."""
    scores = logits()
    t = tercet.Table.create({"row": np.arange(len(LABELS), dtype=np.int64)}, "p", "d", "nolabel")
    labels = np.where((LABELS >= 0) & (LABELS < CLASSES), LABELS, 0)
    tercet.init(project="p")
    collector = tercet.ClassificationCollector(top_k=1)
    result = tercet.collect_metrics(
        t.map(lambda r: (torch.tensor(r["row"]), torch.tensor([labels[r["row"]]]))),
        [collector], Fixed(scores), batch_size=5, wait=True,
    )  # fmt: skip
    got = storage.read_parquet(result["url"]).sort_by("example_id")
    want = expected(scores, labels)
    assert got.column("top_labels").to_pylist() == [[int(i)] for i in want["prediction"]]
    np.testing.assert_allclose(got.column("loss").to_numpy(), want["loss"], rtol=1e-5)
    assert collector.specs()["prediction"].extra == {}  # no label column: no target to name


def test_outputs_picks_the_scores_and_a_named_label_column_is_used() -> None:
    scores = logits()
    labels = np.where((LABELS >= 0) & (LABELS < CLASSES), LABELS, 0).astype(np.int32)
    t = tercet.Table.create(
        {"row": np.arange(len(LABELS), dtype=np.int64), "fine": labels,
         "coarse": (labels // 2).astype(np.int32)},
        "p", "d", "two", roles={"fine": "label", "coarse": "label"},
    )  # fmt: skip

    class Named(Fixed):
        def forward(self, index: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
            return {"aux": torch.zeros(len(index)), "logits": super().forward(index)}

    tercet.init(project="p")
    pick = tercet.ClassificationCollector(label="coarse", outputs=lambda out: out["logits"])
    result = tercet.collect_metrics(t.map(lambda r: torch.tensor(r["row"])), [pick], Named(scores),
                                    wait=True)  # fmt: skip
    got = storage.read_parquet(result["url"]).sort_by("example_id")
    coarse = (labels // 2).astype(np.int32)
    np.testing.assert_allclose(got.column("loss").to_numpy(), expected(scores, coarse)["loss"],
                               rtol=1e-5)  # fmt: skip
    assert pick.specs()["prediction"].extra == {"target": "coarse"}
    with pytest.raises(RunError) as unnamed:
        tercet.collect_metrics(t.map(lambda r: torch.tensor(r["row"])),
                               [tercet.ClassificationCollector(outputs=lambda o: o["logits"])],
                               Named(scores))  # fmt: skip
    assert str(unnamed.value) == (
        "two has several label columns (fine, coarse); tell the ClassificationCollector which "
        "one to use."
    )


def test_specs_share_the_label_value_map_and_name_the_target() -> None:
    t = table(["cat", "dog", "eel", "fox"])
    collector = tercet.ClassificationCollector(top_k=2, probabilities=True)
    collect(t, collector, logits())
    specs = collector.specs()
    label_map = t.schema["label"].value_map
    assert {n: s.role for n, s in specs.items()} == {
        "loss": "loss", "prediction": "prediction", "confidence": "confidence",
        "label_probability": "confidence", "margin": "number", "top_labels": "other",
        "top_probabilities": "other", "probabilities": "probabilities",
    }  # fmt: skip
    assert specs["prediction"].value_map == label_map and specs["top_labels"].value_map == label_map
    assert specs["loss"].value_map is None and specs["confidence"].value_map is None
    for name in ("prediction", "label_probability", "margin", "top_labels", "probabilities"):
        assert specs[name].extra == {"target": "label"}, name
    assert specs["loss"].extra == {} and specs["top_probabilities"].extra == {}


def test_targets_come_from_the_batch_when_the_table_has_no_label() -> None:
    scores = logits()
    labels = np.where((LABELS >= 0) & (LABELS < CLASSES), LABELS, 0)
    t = tercet.Table.create({"row": np.arange(len(LABELS), dtype=np.int64)}, "p", "d", "plain")
    tercet.init(project="p")
    result = tercet.collect_metrics(
        t.map(lambda r: (torch.tensor(r["row"]), int(labels[r["row"]]))),
        [tercet.ClassificationCollector()], Fixed(scores), wait=True,
    )  # fmt: skip
    got = storage.read_parquet(result["url"]).sort_by("example_id")
    np.testing.assert_allclose(got.column("loss").to_numpy(), expected(scores, labels)["loss"],
                               rtol=1e-5)  # fmt: skip
    with pytest.raises(RunError) as missing:
        tercet.collect_metrics(t.map(lambda r: torch.tensor(r["row"])),
                               [tercet.ClassificationCollector()], Fixed(scores))  # fmt: skip
    assert str(missing.value) == (
        "ClassificationCollector needs ground truth: the table has no label column and batches "
        "are not (inputs, target) pairs. Pass label='<column>'."
    )


def test_bad_settings_and_outputs_are_named() -> None:
    with pytest.raises(
        RunError, match="top_k must be 0 .off. or a positive number of classes; not -1"
    ):
        tercet.ClassificationCollector(top_k=-1)
    flat = np.zeros(len(LABELS), dtype=np.float32)
    with pytest.raises(RunError) as flat_error:
        collect(table(), tercet.ClassificationCollector(), flat)
    assert str(flat_error.value) == (
        "ClassificationCollector expects class scores of shape (batch, classes); received Tensor "
        "(5,). Pass outputs=lambda out: ... to pick them."
    )
    with pytest.raises(RunError) as listed:
        collect(table(), tercet.ClassificationCollector(outputs=lambda out: out.tolist()), flat)
    assert "received list . Pass outputs=lambda out:" in str(listed.value)


@pytest.mark.parametrize(("from_logits", "k"), [(True, 2), (False, 2), (True, 0)])
def test_host_and_device_paths_agree(from_logits: bool, k: int) -> None:
    """Scores on the CPU go through NumPy, on an accelerator through torch; both give the same
    columns (this machine has no GPU, so the torch path is called directly)."""
    from tercet.runs.collectors import ClassificationCollector

    scores = logits()
    if not from_logits:
        scores = expected(scores, LABELS)["probabilities"].astype(np.float32)
    collector = ClassificationCollector(probabilities=True, top_k=k, logits=from_logits)
    safe = np.where((LABELS >= 0) & (LABELS < CLASSES), LABELS, 0)
    host = collector._on_host(torch.as_tensor(scores), safe, k)
    device = collector._on_device(torch.as_tensor(scores), safe, k)
    assert host.shape == device.shape == (len(LABELS), 5 + 2 * k + CLASSES)
    np.testing.assert_allclose(host, device, rtol=1e-5, atol=1e-6)
    want = expected(logits(), LABELS)
    np.testing.assert_allclose(host[:, 0][want["valid"]], want["loss"][want["valid"]], rtol=1e-5)
    assert host[:, 4].astype(int).tolist() == want["prediction"].tolist()


def test_probabilities_without_top_k_are_float32_lists_of_every_class() -> None:
    scores = logits()
    got = collect(table(), tercet.ClassificationCollector(probabilities=True), scores)
    assert got.schema.field("probabilities").type == pa.list_(pa.float32())
    assert "top_labels" not in got.column_names
    want = expected(scores, LABELS)["probabilities"]
    np.testing.assert_allclose(np.array(got.column("probabilities").to_pylist()), want,
                               rtol=1e-5, atol=1e-7)  # fmt: skip


def test_one_class_has_no_other_so_the_margin_is_the_label_probability() -> None:
    """With one class its probability is 1 and no other class has any: margin 1, on both paths."""
    from tercet.runs.collectors import ClassificationCollector

    scores = torch.tensor([[2.0], [-3.0]])
    for collector in (ClassificationCollector(), ClassificationCollector(logits=False)):
        for path in (collector._on_host, collector._on_device):
            given = scores if collector.logits else torch.ones(2, 1)  # as probabilities: 1
            got = path(given, np.zeros(2, int), 0)
            assert got[:, :5].tolist() == [[0.0, 1.0, 0.0, 1.0, 0.0]] * 2, path


def test_large_logits_in_rows_of_different_scales_give_finite_exact_losses() -> None:
    """Log-softmax shifted by each row's own maximum: a logit of 1000 neither overflows nor
    drowns another row whose logits are near 0."""
    from tercet.runs.collectors import ClassificationCollector

    scores = torch.tensor([[1000.0, 0.0], [0.0, 1.0]])
    collector = ClassificationCollector()
    for path in (collector._on_host, collector._on_device):
        got = path(scores, np.array([0, 1]), 0)
        np.testing.assert_allclose(got[:, 0], [0.0, np.log1p(np.exp(-1.0))], atol=1e-6)
        assert got[:, 4].tolist() == [0.0, 1.0], path


class OnAccelerator(torch.Tensor):
    """Scores that say they are on an accelerator (this machine has none): ``hold`` computes
    their numbers with the torch path at once, as it does for a GPU, and keeps no scores."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cuda")

    def detach(self) -> torch.Tensor:  # type: ignore[override]
        return torch.Tensor.detach(self).as_subclass(torch.Tensor)


def held_pass(collector: tercet.Collector, places: str, sizes: list[int]) -> dict[str, Any]:
    """The columns of one pass over the fixed logits, batch ``i`` of ``sizes[i]`` rows held on
    the host (``h``) or on an accelerator (``a``), released at once."""
    from tercet.runs.collectors import ClassificationCollector
    from tercet.runs.collectors.base import Batch

    assert isinstance(collector, ClassificationCollector) and sum(sizes) == len(LABELS)
    scores, held, at = torch.as_tensor(logits()), [], 0
    for place, n in zip(places, sizes, strict=True):
        part = scores[at : at + n]
        part = part.as_subclass(OnAccelerator) if place == "a" else part
        batch = Batch((part, torch.as_tensor(LABELS[at : at + n])), part,
                      np.arange(at, at + n), at, None)  # type: ignore[arg-type]  # fmt: skip
        held.append(collector.hold(batch, part))
        assert held[-1].computed == (place == "a")
        at += n
    return collector.release(held)


def assert_columns(got: dict[str, Any], want: dict[str, np.ndarray]) -> None:
    for name in ("loss", "label_probability", "margin", "confidence"):
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert got["prediction"].dtype == np.int32
    assert got["prediction"].tolist() == want["prediction"].tolist()
    assert np.array(got["top_labels"].to_pylist()).tolist() == want["top_labels"].tolist()
    np.testing.assert_allclose(np.array(got["top_probabilities"].to_pylist()),
                               want["top_probabilities"], rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(np.array(got["probabilities"].to_pylist()), want["probabilities"],
                               rtol=1e-5, atol=1e-7)  # fmt: skip


@pytest.mark.parametrize(
    ("places", "sizes"),
    [
        ("hah", [5, 3, 4]),
        ("aha", [2, 7, 3]),
        ("aa", [7, 5]),
        ("a", [12]),
        ("hh", [7, 5]),
        ("h", [12]),
    ],
)
def test_a_pass_held_on_the_host_and_on_an_accelerator_gives_the_numpy_columns(
    places: str, sizes: list[int]
) -> None:
    """Batches whose numbers were computed on an accelerator when held, beside batches whose
    scores wait on the host, released together: every row its own columns (labels -1, 7 and 4
    are no class), and the aggregates those of every labelled row."""
    collector = tercet.ClassificationCollector(top_k=2, probabilities=True)
    want = expected(logits(), LABELS)
    assert_columns(held_pass(collector, places, sizes), want)
    valid = want["valid"]
    aggregates = collector.aggregates()
    assert aggregates["loss"] == pytest.approx(float(want["loss"][valid].mean()), rel=1e-5)
    assert aggregates["accuracy"] == pytest.approx(
        float((want["prediction"][valid] == LABELS[valid]).mean())
    )


def test_collect_gives_the_columns_of_one_batch() -> None:
    """``collect`` (a loop that sees every batch, a subclass) holds and releases one batch."""
    from tercet.runs.collectors.base import Batch

    collector = tercet.ClassificationCollector(top_k=2, probabilities=True)
    scores = torch.as_tensor(logits())
    batch = Batch((scores, torch.as_tensor(LABELS)), scores, np.arange(len(LABELS)), 0,
                  None)  # type: ignore[arg-type]  # fmt: skip
    assert_columns(dict(collector.collect(batch, scores)), expected(logits(), LABELS))


@pytest.mark.parametrize("bound", [16, 17, 1 << 22])
def test_a_pass_released_in_parts_gives_the_same_columns_and_aggregates(
    bound: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 2 rows hold 8 scores each: a bound of 16 is reached exactly after every second
    batch, 17 after every third, the default never. The file and the epoch's loss and accuracy
    are those of the whole pass, whatever the parts; the collector, reused for a second pass,
    starts its aggregates again."""
    from tercet.runs import held

    monkeypatch.setattr(held, "HELD_VALUES", bound)
    scores, t = logits(), table()
    collector = tercet.ClassificationCollector(top_k=2, probabilities=True)
    tercet.init(project="p")
    want = expected(scores, LABELS)
    valid = want["valid"]
    for split in ("first", "again"):
        result = tercet.collect_metrics(t.map(by_row), [collector], Fixed(scores), batch_size=2,
                                        split=split, wait=True)  # fmt: skip
        got = storage.read_parquet(result["url"]).sort_by("example_id")
        columns = {n: got.column(n).combine_chunks() for n in got.column_names}
        assert_columns({n: (c.to_numpy(zero_copy_only=False) if not pa.types.is_list(c.type)
                            else c) for n, c in columns.items()}, want)  # fmt: skip
        assert result["aggregates"]["loss"] == pytest.approx(float(want["loss"][valid].mean()),
                                                             rel=1e-5)  # fmt: skip
        assert result["aggregates"]["accuracy"] == pytest.approx(
            float((want["prediction"][valid] == LABELS[valid]).mean())
        )


def test_held_scores_are_float32_whatever_type_the_model_gives() -> None:
    """A pass's scores are held until release: 4 bytes a class, not a float64 model's 8."""
    from tercet.runs.collectors import ClassificationCollector
    from tercet.runs.collectors.base import Batch

    scores = torch.tensor([[1.0, 2.5], [-3.0, 0.5]], dtype=torch.float64)
    batch = Batch((scores, torch.tensor([0, 1])), scores, np.arange(2), 0, None)  # type: ignore[arg-type]
    held = ClassificationCollector().hold(batch, scores)
    assert held.values.dtype == np.float32
    assert held.values.tolist() == [[1.0, 2.5], [-3.0, 0.5]]
