"""Classification: loss, prediction, confidence and (optionally) class probabilities."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tercet.errors import RunError
from tercet.runs.collectors.base import (
    Batch,
    CollectContext,
    Collector,
    only_column,
    select_outputs,
    to_numpy,
)
from tercet.runs.metrics import MetricSpec
from tercet.schema import ValueMap


@dataclass(frozen=True)
class Held:
    """One batch as :meth:`ClassificationCollector.hold` took it: its scores (or, for scores
    on a device, the per-sample numbers already computed there) and its targets."""

    values: np.ndarray
    targets: np.ndarray
    computed: bool
    classes: int


class ClassificationCollector(Collector):
    """Per-sample loss, predicted label and confidence for classifiers.

    Writes ``loss`` (cross-entropy), ``prediction`` (sharing the label's value map),
    ``confidence`` (probability of the prediction), ``label_probability`` (probability of the
    given label) and ``margin`` (that probability minus the largest other one: the per-epoch term
    of the area under the margin that :mod:`tercet.insights` ranks label errors by), with
    ``top_k`` the ``k`` most probable classes and their probabilities, and with
    ``probabilities=True`` every class probability. Logs the epoch's mean ``loss`` and
    ``accuracy``.

    Parameters
    ----------
    label
        Ground-truth column of the table; by default its only ``label`` column. Without one, the
        second item of each ``(inputs, target)`` batch is used.
    probabilities
        Also store the full probability vector (``list<float32>``).
    top_k
        Also store the ``k`` most probable classes (``top_labels``) and their probabilities
        (``top_probabilities``): what confident learning needs, at ``8k`` bytes a sample instead
        of ``4 × classes``.
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
        top_k: int = 0,
        logits: bool = True,
        outputs: Callable[[Any], Any] | None = None,
        prefix: str = "",
    ) -> None:
        self.label = label
        if top_k < 0:
            raise RunError(f"top_k must be 0 (off) or a positive number of classes; not {top_k}.")
        self.probabilities = probabilities
        self.top_k = int(top_k)
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
        self._label = only_column(context.table, "label", "ClassificationCollector", self.label)
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
        return self.release([self.hold(batch, outputs)])

    def hold(self, batch: Batch, outputs: Any) -> Held:
        """What :meth:`release` needs of one batch, checked now, computed later: a framework's
        loop hands its batches one at a time, and the numbers of all of them computed at once
        cost a fraction of one computation per batch (:class:`tercet.runs.harvest.Harvest`)."""
        import torch

        scores = select_outputs(outputs, self.outputs)
        if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
            shape = getattr(scores, "shape", None)
            raise RunError(
                f"ClassificationCollector expects class scores of shape (batch, classes); received "
                f"{type(scores).__name__} {tuple(shape) if shape is not None else ''}. Pass "
                "outputs=lambda out: ... to pick them."
            )
        targets = self._targets(batch)
        if scores.device.type == "cpu":
            return Held(to_numpy(scores).astype(np.float32), targets, False, scores.shape[1])
        # On a device: its numbers now, one copy to the host per batch, none of the scores kept.
        safe = np.where((targets >= 0) & (targets < scores.shape[1]), targets, 0)
        k = min(self.top_k, scores.shape[1])
        return Held(self._on_device(scores, safe, k), targets, True, scores.shape[1])

    def release(self, held: Sequence[Held]) -> dict[str, Any]:
        """The columns of the batches :meth:`hold` took, end to end."""
        targets = np.concatenate([h.targets for h in held]) if len(held) > 1 else held[0].targets
        classes = held[0].classes
        k = min(self.top_k, classes)
        valid = (targets >= 0) & (targets < classes)
        safe = np.where(valid, targets, 0)
        if not any(h.computed for h in held):
            scores = np.concatenate([h.values for h in held]) if len(held) > 1 else held[0].values
            host = self._on_host(scores, safe, k)
        else:  # numbers computed on a device (scores on the host too, unusually: batch by batch)
            parts, at = [], 0
            for h in held:
                n = len(h.targets)
                parts.append(
                    h.values if h.computed else self._on_host(h.values, safe[at : at + n], k)
                )
                at += n
            host = np.concatenate(parts) if len(parts) > 1 else parts[0]
        loss, label_probability = host[:, 0].astype(np.float32), host[:, 1].astype(np.float32)
        loss[~valid] = np.nan
        label_probability[~valid] = np.nan
        margin = label_probability - host[:, 2]
        pred = host[:, 4].astype(np.int32)
        self._loss_sum += float(loss[valid].sum())
        self._loss_n += int(valid.sum())
        self._correct += int((pred[valid] == targets[valid]).sum())
        self._labelled += int(valid.sum())
        p = self.prefix
        out: dict[str, Any] = {
            f"{p}loss": loss,
            f"{p}prediction": pred,
            f"{p}confidence": host[:, 3].astype(np.float32),
            f"{p}label_probability": label_probability,
            f"{p}margin": margin,
        }
        if k:
            out[f"{p}top_labels"] = _lists(host[:, 5 + k : 5 + 2 * k].astype(np.int32))
            out[f"{p}top_probabilities"] = _lists(host[:, 5 : 5 + k].astype(np.float32))
        if self.probabilities:
            out[f"{p}probabilities"] = _lists(host[:, 5 + 2 * k :].astype(np.float32))
        return out

    def _on_device(self, scores: Any, safe: np.ndarray, k: int) -> np.ndarray:
        """The per-sample numbers side by side (see :meth:`_on_host`), computed where the
        scores are, with one device-to-host copy per batch (each ``.cpu()`` of a CUDA tensor
        waits for the device)."""
        import torch
        import torch.nn.functional as F

        scores = scores.detach().float()
        if self.logits:
            log_probs = F.log_softmax(scores, dim=1)
        else:
            log_probs = torch.log(scores.clamp_min(1e-12))
        probs = log_probs.exp()
        confidence, prediction = probs.max(dim=1)
        at = torch.as_tensor(safe, device=scores.device)
        given = log_probs.gather(1, at[:, None]).squeeze(1)
        others = probs.scatter(1, at[:, None], 0.0).max(dim=1).values
        top_p, top_i = probs.topk(k, dim=1) if k else (probs[:, :0], probs[:, :0])
        parts = [-given[:, None], given.exp()[:, None], others[:, None], confidence[:, None],
                 prediction[:, None].float(), top_p, top_i.float()]  # fmt: skip
        if self.probabilities:
            parts.append(probs)
        return to_numpy(torch.cat(parts, dim=1))

    def _on_host(self, scores: Any, safe: np.ndarray, k: int) -> np.ndarray:
        """Columns loss, label probability, best other probability, confidence, prediction,
        top-k probabilities, top-k labels and (``probabilities``) every probability, for
        scores on the CPU: NumPy on the batch at once, a few microseconds where the same
        dozen small torch calls cost a millisecond a batch (collection on a small model)."""
        x = to_numpy(scores).astype(np.float32, copy=False)
        if self.logits:
            shifted = x - x.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        else:
            log_probs = np.log(np.maximum(x, np.float32(1e-12)))
        probs = np.exp(log_probs)
        rows = np.arange(len(x))
        prediction = probs.argmax(axis=1)
        given = log_probs[rows, safe]
        masked = probs.copy()
        # The label's own slot counts as 0: with one class there is no other, and the margin is
        # the label probability itself (never above 1).
        masked[rows, safe] = 0.0
        columns = [-given, np.exp(given), masked.max(axis=1), probs[rows, prediction],
                   prediction.astype(np.float32)]  # fmt: skip
        parts = [np.stack(columns, axis=1)]
        if k:
            import torch

            top_p, top_i = torch.from_numpy(probs).topk(k, dim=1)
            parts += [top_p.numpy(), top_i.numpy().astype(np.float32)]
        if self.probabilities:
            parts.append(probs)
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def specs(self) -> dict[str, MetricSpec]:
        p = self.prefix
        target = {"target": self._label} if self._label else {}
        out = {
            f"{p}loss": MetricSpec("loss"),
            f"{p}prediction": MetricSpec("prediction", self._value_map, dict(target)),
            f"{p}confidence": MetricSpec("confidence"),
            f"{p}label_probability": MetricSpec("confidence", None, dict(target)),
            f"{p}margin": MetricSpec("number", None, dict(target)),
        }
        if self.top_k:
            out[f"{p}top_labels"] = MetricSpec("other", self._value_map, dict(target))
            out[f"{p}top_probabilities"] = MetricSpec("other")
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


def _lists(matrix: np.ndarray) -> pa.ListArray:
    """An n × k matrix as a list column (not fixed-size: that would read as an embedding)."""
    offsets = pa.array(np.arange(0, matrix.size + 1, max(matrix.shape[1], 1), dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel()))
