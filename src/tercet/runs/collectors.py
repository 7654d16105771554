"""Collectors turn one batch of model outputs into per-sample metric columns.

:func:`tercet.collect_metrics` runs the model over a table and hands every batch to each collector:
``collect(batch, outputs)`` returns ``{column: one value or vector per sample}``. Collectors also
say what their columns mean (roles, for the dashboard) and which epoch-level aggregates to log.

Torch is imported only inside methods, so ``import tercet`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from tercet.errors import RunError
from tercet.runs.metrics import MetricSpec
from tercet.schema import ValueMap
from tercet.tables.table import Table


class RunTarget(Protocol):
    """What a collection pass writes into (:class:`tercet.Run` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    def wait(self, key: str | None = None) -> None: ...

    def next_epoch(self, split: str) -> int: ...

    def metrics_url(self, split: str, epoch: int) -> str: ...

    def metrics_header(self, table: Table, split: str, epoch: int) -> dict[str, Any]: ...

    def write_in_background(self, key: str, task: Callable[[], Any]) -> None: ...

    def add_input(self, table: Table | str, split: str | None = None) -> None: ...

    def log_summary(self, values: Mapping[str, Any], epoch: int | None) -> None: ...


PRED_BOX_TYPE = pa.struct(
    [("x0", pa.float32()), ("y0", pa.float32()), ("x1", pa.float32()), ("y1", pa.float32()),
     ("label", pa.int32()), ("score", pa.float32()), ("tp", pa.bool_())]
)  # fmt: skip


@dataclass
class CollectContext:
    """What a collection pass is about; given to :meth:`Collector.start`."""

    table: Table
    split: str
    epoch: int
    model: Any
    run: RunTarget


class TableColumns:
    """Columns of the input table as NumPy arrays (lists for nested types), read on first use."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._cache: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._cache:
            column = self.table.to_arrow([name]).column(name).combine_chunks()
            typ = column.type
            if pa.types.is_integer(typ) and column.null_count:
                self._cache[name] = column.fill_null(-1).to_numpy()  # -1: no label
            elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
                self._cache[name] = column.to_numpy(zero_copy_only=False)
            else:
                self._cache[name] = column.to_pylist()
        return self._cache[name]


class Batch:
    """One batch as collectors see it.

    Attributes
    ----------
    data
        What the DataLoader yielded (after collation).
    inputs
        What was passed to the model.
    example_ids
        ``example_id`` of each sample, in batch order.
    """

    def __init__(self, data: Any, inputs: Any, example_ids: np.ndarray, start: int,
                 columns: TableColumns) -> None:  # fmt: skip
        self.data = data
        self.inputs = inputs
        self.example_ids = example_ids
        self.start = start
        self._columns = columns

    def __len__(self) -> int:
        return len(self.example_ids)

    def column(self, name: str) -> Any:
        """Values of a column of the input table for the samples of this batch."""
        return self._columns.get(name)[self.start : self.start + len(self.example_ids)]


class Collector:
    """Base class. Subclasses implement :meth:`collect`; the rest is optional."""

    def start(self, context: CollectContext) -> None:
        """Called once before the first batch (register hooks, reset running sums)."""

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        """Per-sample columns for ``batch``: each value has one entry (or row) per sample."""
        raise NotImplementedError

    def specs(self) -> dict[str, MetricSpec]:
        """Roles of the columns this collector writes (after :meth:`start`)."""
        return {}

    def aggregates(self) -> dict[str, float]:
        """Epoch-level scalars logged on the run as ``<split>/<name>``."""
        return {}

    def finish(self) -> None:
        """Called once after the last batch, also on error (remove hooks)."""


def to_numpy(value: Any) -> np.ndarray:
    """A tensor, array or list as a NumPy array on the CPU."""
    detach = getattr(value, "detach", None)
    if callable(detach):
        tensor = detach().cpu()
        if str(tensor.dtype) in ("torch.bfloat16", "torch.float16"):
            tensor = tensor.float()
        return np.asarray(tensor.numpy())
    return np.asarray(value)


def _select(outputs: Any, selector: Callable[[Any], Any] | None) -> Any:
    if selector is not None:
        return selector(outputs)
    if isinstance(outputs, tuple | list) and outputs and not isinstance(outputs[0], Mapping):
        return outputs[0]  # (logits, features, …): the first item by convention
    return outputs


def _only_column(table: Table, role: str, what: str, wanted: str | None) -> str | None:
    if wanted is not None:
        table.schema[wanted]  # raises naming the columns there are
        return wanted
    found = [c.name for c in table.schema if c.role == role]
    if len(found) > 1:
        raise RunError(
            f"{table.name} has several {role} columns ({', '.join(found)}); tell the {what} "
            f"which one to use."
        )
    return found[0] if found else None


class FunctionCollector(Collector):
    """Metrics from a plain function ``fn(batch, outputs) -> {column: per-sample values}``.

    Parameters
    ----------
    fn
        Returns arrays or tensors with one entry (or row) per sample.
    roles
        Column roles (``{"margin": "number"}``); inferred from the data when left out.
    aggregate
        Columns whose mean is logged per epoch.
    """

    def __init__(
        self,
        fn: Callable[[Batch, Any], Mapping[str, Any]],
        roles: Mapping[str, str | MetricSpec] | None = None,
        aggregate: Sequence[str] = (),
    ) -> None:
        self.fn = fn
        self.roles = {
            k: v if isinstance(v, MetricSpec) else MetricSpec(v) for k, v in (roles or {}).items()
        }
        self.aggregate = list(aggregate)
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def start(self, context: CollectContext) -> None:
        self._sums = dict.fromkeys(self.aggregate, 0.0)
        self._counts = dict.fromkeys(self.aggregate, 0)

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        produced = self.fn(batch, outputs)
        if not isinstance(produced, Mapping):
            raise RunError(f"{self.fn!r} must return a dict of columns; received {produced!r}.")
        out = {
            str(k): v if isinstance(v, pa.Array | pa.ChunkedArray) else to_numpy(v)
            for k, v in produced.items()
        }
        for name in self.aggregate:
            if name not in out:
                raise RunError(f"Aggregate {name!r} is not among the columns {sorted(out)}.")
            values = np.asarray(out[name], dtype=np.float64)
            finite = values[np.isfinite(values)]
            self._sums[name] += float(finite.sum())
            self._counts[name] += int(finite.size)
        return out

    def specs(self) -> dict[str, MetricSpec]:
        return dict(self.roles)

    def aggregates(self) -> dict[str, float]:
        return {n: self._sums[n] / self._counts[n] for n in self.aggregate if self._counts.get(n)}


class ClassificationCollector(Collector):
    """Per-sample loss, predicted label and confidence for classifiers.

    Writes ``loss`` (cross-entropy), ``prediction`` (sharing the label's value map),
    ``confidence`` (probability of the prediction) and, with ``probabilities=True``, every class
    probability. Logs the epoch's mean ``loss`` and ``accuracy``.

    Parameters
    ----------
    label
        Ground-truth column of the table; by default its only ``label`` column. Without one, the
        second item of each ``(inputs, target)`` batch is used.
    probabilities
        Also store the full probability vector (``list<float32>``).
    logits
        Outputs are logits (the default) rather than probabilities.
    outputs
        Picks the class scores from the model's outputs (default: the outputs, or their first item).
    prefix
        Prepended to column and aggregate names, to run two heads side by side.
    """

    def __init__(
        self,
        label: str | None = None,
        *,
        probabilities: bool = False,
        logits: bool = True,
        outputs: Callable[[Any], Any] | None = None,
        prefix: str = "",
    ) -> None:
        self.label = label
        self.probabilities = probabilities
        self.logits = logits
        self.outputs = outputs
        self.prefix = prefix
        self._label: str | None = None
        self._value_map: ValueMap | None = None
        self._loss_sum = 0.0
        self._loss_n = 0
        self._correct = 0
        self._labelled = 0

    def start(self, context: CollectContext) -> None:
        self._label = _only_column(context.table, "label", "ClassificationCollector", self.label)
        self._value_map = context.table.schema[self._label].value_map if self._label else None
        self._loss_sum, self._loss_n, self._correct, self._labelled = 0.0, 0, 0, 0

    def _targets(self, batch: Batch) -> np.ndarray:
        if self._label is not None:
            return np.asarray(batch.column(self._label), dtype=np.int64)
        if isinstance(batch.data, tuple | list) and len(batch.data) >= 2:
            return to_numpy(batch.data[1]).astype(np.int64).reshape(-1)
        raise RunError(
            "ClassificationCollector needs ground truth: the table has no label column and "
            "batches are not (inputs, target) pairs. Pass label='<column>'."
        )

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        import torch
        import torch.nn.functional as F

        scores = _select(outputs, self.outputs)
        if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
            shape = getattr(scores, "shape", None)
            raise RunError(
                f"ClassificationCollector expects class scores of shape (batch, classes); received "
                f"{type(scores).__name__} {tuple(shape) if shape is not None else ''}. Pass "
                "outputs=lambda out: ... to pick them."
            )
        scores = scores.detach().float()
        if self.logits:
            log_probs = F.log_softmax(scores, dim=1)
        else:
            log_probs = torch.log(scores.clamp_min(1e-12))
        probs = log_probs.exp()
        confidence, prediction = probs.max(dim=1)
        targets = self._targets(batch)
        valid = (targets >= 0) & (targets < scores.shape[1])
        safe = torch.as_tensor(np.where(valid, targets, 0), device=scores.device)
        loss = to_numpy(-log_probs.gather(1, safe[:, None]).squeeze(1)).astype(np.float32)
        loss[~valid] = np.nan
        pred = to_numpy(prediction).astype(np.int32)
        self._loss_sum += float(loss[valid].sum())
        self._loss_n += int(valid.sum())
        self._correct += int((pred[valid] == targets[valid]).sum())
        self._labelled += int(valid.sum())
        p = self.prefix
        out: dict[str, Any] = {
            f"{p}loss": loss,
            f"{p}prediction": pred,
            f"{p}confidence": to_numpy(confidence).astype(np.float32),
        }
        if self.probabilities:
            flat = to_numpy(probs).astype(np.float32)
            offsets = pa.array(np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32))
            out[f"{p}probabilities"] = pa.ListArray.from_arrays(offsets, pa.array(flat.ravel()))
        return out

    def specs(self) -> dict[str, MetricSpec]:
        p = self.prefix
        target = {"target": self._label} if self._label else {}
        out = {
            f"{p}loss": MetricSpec("loss"),
            f"{p}prediction": MetricSpec("prediction", self._value_map, dict(target)),
            f"{p}confidence": MetricSpec("confidence"),
        }
        if self.probabilities:
            out[f"{p}probabilities"] = MetricSpec("probabilities", None, dict(target))
        return out

    def aggregates(self) -> dict[str, float]:
        out = {}
        if self._loss_n:
            out[f"{self.prefix}loss"] = self._loss_sum / self._loss_n
        if self._labelled:
            out[f"{self.prefix}accuracy"] = self._correct / self._labelled
        return out


class EmbeddingCollector(Collector):
    """Per-sample embeddings captured from a named layer by a forward hook.

    Parameters
    ----------
    layer
        Name in ``model.named_modules()`` (``"backbone.layer4"``) or the module itself; ``None``
        takes the model's outputs.
    name
        Column name (default ``embedding``).
    pool
        ``"mean"`` averages every axis after the second (the spatial axes of an N×C×H×W feature
        map), ``"max"`` takes their maximum, ``"flatten"`` keeps everything, ``"none"`` requires
        N×D; or a function of the captured tensor. For N×T×C sequences pass
        ``pool=lambda x: x.mean(1)``.
    """

    def __init__(
        self,
        layer: str | Any | None = None,
        *,
        name: str = "embedding",
        pool: str | Callable[[Any], Any] = "mean",
    ) -> None:
        if isinstance(pool, str) and pool not in ("mean", "max", "flatten", "none"):
            raise RunError(
                f"pool must be 'mean', 'max', 'flatten', 'none' or a function; not {pool!r}."
            )
        self.layer = layer
        self.name = name
        self.pool = pool
        self._captured: Any = None
        self._handle: Any = None
        self._layer_name: str | None = None

    def start(self, context: CollectContext) -> None:
        self._captured = None
        if self.layer is None:
            return
        module: Any = self.layer
        if isinstance(self.layer, str):
            named = dict(context.model.named_modules())
            if self.layer not in named:
                available = ", ".join(n for n in list(named)[:40] if n)
                raise RunError(
                    f"The model has no layer {self.layer!r}. Layers: {available}"
                    f"{' …' if len(named) > 40 else ''}."
                )
            module = named[self.layer]
            self._layer_name = self.layer
        else:
            self._layer_name = next(
                (n for n, m in context.model.named_modules() if m is module), type(module).__name__
            )
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module: Any, inputs: Any, output: Any) -> None:
        # The last call wins when a module runs several times in one forward pass.
        self._captured = output[0] if isinstance(output, tuple | list) else output

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        captured = outputs if self.layer is None else self._captured
        self._captured = None
        if captured is None:
            raise RunError(
                f"Layer {self._layer_name!r} did not run in the model's forward pass; pick a layer "
                "that does."
            )
        x = captured.detach()
        if callable(self.pool):
            x = self.pool(x)
        elif x.ndim > 2:
            if self.pool == "mean":
                x = x.flatten(2).mean(2)
            elif self.pool == "max":
                x = x.flatten(2).amax(2)
            elif self.pool == "flatten":
                x = x.flatten(1)
            else:
                raise RunError(
                    f"Layer {self._layer_name!r} outputs shape {tuple(x.shape)}; with pool='none' "
                    "it must be (batch, features). Use pool='mean' or 'flatten'."
                )
        values = to_numpy(x).astype(np.float32, copy=False)
        if values.ndim != 2:
            raise RunError(f"Embeddings must be (batch, features); got shape {values.shape}.")
        return {self.name: values}

    def specs(self) -> dict[str, MetricSpec]:
        extra: dict[str, Any] = {"pool": self.pool if isinstance(self.pool, str) else "custom"}
        if self._layer_name is not None:
            extra["layer"] = self._layer_name
        return {self.name: MetricSpec("embedding", None, extra)}

    def finish(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._captured = None


class BoxCollector(Collector):
    """Predicted boxes of a detector, matched against ground truth (TP/FP/FN per sample).

    The model (or ``outputs``) gives one mapping per sample with ``boxes`` (N×4, xyxy pixels),
    ``labels`` (N) and ``scores`` (N), as torchvision detectors do. Predictions are matched
    greedily by score to unmatched ground-truth boxes of the same label with IoU ≥
    ``iou_threshold``.

    Writes ``pred_boxes`` (list of x0, y0, x1, y1, label, score, tp) and ``box_tp``, ``box_fp``,
    ``box_fn`` counts; logs ``box_precision`` and ``box_recall``.

    Parameters
    ----------
    boxes
        Ground-truth column (role ``boxes``); by default the table's only one.
    iou_threshold, score_threshold
        Match threshold, and predictions below this score are dropped.
    outputs
        Picks the per-sample predictions from the model outputs.
    name
        Column name of the predicted boxes.
    """

    def __init__(
        self,
        boxes: str | None = None,
        *,
        iou_threshold: float = 0.5,
        score_threshold: float = 0.0,
        outputs: Callable[[Any], Any] | None = None,
        name: str = "pred_boxes",
    ) -> None:
        self.boxes = boxes
        self.iou_threshold = iou_threshold
        self.score_threshold = score_threshold
        self.outputs = outputs
        self.name = name
        self._column: str | None = None
        self._value_map: ValueMap | None = None
        self._tp = self._fp = self._fn = 0

    def start(self, context: CollectContext) -> None:
        self._column = _only_column(context.table, "boxes", "BoxCollector", self.boxes)
        if self._column is None:
            raise RunError(f"{context.table.name} has no boxes column; pass boxes='<column>'.")
        self._value_map = context.table.schema[self._column].value_map
        self._tp = self._fp = self._fn = 0

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        assert self._column is not None
        predictions = _select_boxes(outputs, self.outputs)
        truths = batch.column(self._column)
        if len(predictions) != len(batch):
            raise RunError(
                f"{len(predictions)} box predictions for a batch of {len(batch)} samples."
            )
        rows: list[list[dict[str, Any]]] = []
        tps, fps, fns = (np.zeros(len(batch), np.int32) for _ in range(3))
        for i, (pred, truth) in enumerate(zip(predictions, truths, strict=True)):
            p_boxes = (
                to_numpy(pred.get("boxes", np.zeros((0, 4)))).reshape(-1, 4).astype(np.float32)
            )
            p_labels = (
                to_numpy(pred.get("labels", np.zeros(len(p_boxes)))).reshape(-1).astype(np.int32)
            )
            p_scores = (
                to_numpy(pred.get("scores", np.ones(len(p_boxes)))).reshape(-1).astype(np.float32)
            )
            keep = p_scores >= self.score_threshold
            p_boxes, p_labels, p_scores = p_boxes[keep], p_labels[keep], p_scores[keep]
            truth = truth or []
            g_boxes = np.array([[b["x0"], b["y0"], b["x1"], b["y1"]] for b in truth], np.float32)
            g_labels = np.array([b["label"] for b in truth], np.int32)
            tp, missed = match_boxes(
                p_boxes, p_labels, p_scores, g_boxes.reshape(-1, 4), g_labels, self.iou_threshold
            )
            tps[i], fps[i], fns[i] = int(tp.sum()), int((~tp).sum()), missed
            rows.append(
                [
                    {
                        "x0": float(b[0]),
                        "y0": float(b[1]),
                        "x1": float(b[2]),
                        "y1": float(b[3]),
                        "label": int(lab),
                        "score": float(s),
                        "tp": bool(t),
                    }
                    for b, lab, s, t in zip(p_boxes, p_labels, p_scores, tp, strict=True)
                ]
            )
        self._tp += int(tps.sum())
        self._fp += int(fps.sum())
        self._fn += int(fns.sum())
        return {
            self.name: pa.array(rows, type=pa.list_(PRED_BOX_TYPE)),
            "box_tp": tps,
            "box_fp": fps,
            "box_fn": fns,
        }

    def specs(self) -> dict[str, MetricSpec]:
        extra = {"target": self._column} if self._column else {}
        return {
            self.name: MetricSpec("boxes", self._value_map, extra),
            "box_tp": MetricSpec("number"),
            "box_fp": MetricSpec("number"),
            "box_fn": MetricSpec("number"),
        }

    def aggregates(self) -> dict[str, float]:
        out = {}
        if self._tp + self._fp:
            out["box_precision"] = self._tp / (self._tp + self._fp)
        if self._tp + self._fn:
            out["box_recall"] = self._tp / (self._tp + self._fn)
        return out


def _select_boxes(outputs: Any, selector: Callable[[Any], Any] | None) -> list[Mapping[str, Any]]:
    found = selector(outputs) if selector is not None else outputs
    if isinstance(found, Mapping):
        found = [found]
    if not isinstance(found, Sequence) or not all(isinstance(p, Mapping) for p in found):
        raise RunError(
            "BoxCollector expects one {'boxes', 'labels', 'scores'} mapping per sample; pass "
            "outputs=lambda out: ... to pick them from the model's outputs."
        )
    return list(found)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4) × (M, 4) → (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0).astype(np.float32)


def match_boxes(
    boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
    truth: np.ndarray, truth_labels: np.ndarray, threshold: float,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """Greedy matching by descending score; returns per-prediction TP flags and the FN count."""
    tp = np.zeros(len(boxes), bool)
    if len(boxes) == 0 or len(truth) == 0:
        return tp, len(truth)
    iou = box_iou(boxes, truth)
    iou[labels[:, None] != truth_labels[None, :]] = -1.0
    taken = np.zeros(len(truth), bool)
    for p in np.argsort(-scores, kind="stable"):
        candidates = np.where(taken, -1.0, iou[p])
        g = int(np.argmax(candidates))
        if candidates[g] >= threshold:
            tp[p] = True
            taken[g] = True
    return tp, int((~taken).sum())


def as_collectors(collectors: Collector | Callable[..., Any] | Sequence[Any]) -> list[Collector]:
    """A list of collectors; plain functions become :class:`FunctionCollector`."""
    items = (
        [collectors] if isinstance(collectors, Collector) or callable(collectors) else collectors
    )
    out: list[Collector] = []
    for item in items:  # type: ignore[union-attr]
        if isinstance(item, Collector):
            out.append(item)
        elif callable(item):
            out.append(FunctionCollector(item))
        else:
            raise RunError(f"{item!r} is not a collector: pass Collector objects or functions.")
    if not out:
        raise RunError("collect_metrics needs at least one collector.")
    return out
