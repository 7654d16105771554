"""Training dynamics: what every epoch's per-sample metrics say about a label.

Two published scores, both computed on the training split itself, no holdout needed:

- **Area under the margin** (Pleiss et al. 2020, "Identifying Mislabeled Data using the Area Under
  the Margin Ranking"): the mean over epochs of the given label's probability minus the largest
  other probability. A mislabelled sample is pulled towards its true class by its neighbours and
  so has a negative margin for most of training, even once the network has memorised it.
- **Data maps** (Swayamdipta et al. 2020, "Dataset Cartography"): the mean (confidence) and
  standard deviation (variability) over epochs of the given label's probability, and the share of
  epochs in which the prediction was right (correctness). Hard-to-learn samples (low confidence,
  low variability) are mostly label errors.

The probability of the given label is the collector's ``label_probability`` column, else
``exp(-loss)``; the margin is its ``margin`` column (older runs lack it: the score then falls back
to the data-map confidence).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class EpochMatrix:
    """Per-sample values of several epochs, aligned to one list of example ids (NaN = missing)."""

    epochs: list[int]
    label_probability: np.ndarray  # epochs × n
    margin: np.ndarray | None  # epochs × n
    prediction: np.ndarray | None  # epochs × n, -1 = missing


@dataclass
class DynamicsScores:
    aum: np.ndarray | None
    confidence: np.ndarray
    variability: np.ndarray
    correctness: np.ndarray | None
    score: np.ndarray  # in [0, 1], higher = more likely mislabelled
    flag: np.ndarray
    suggested: np.ndarray  # most frequent other prediction, -1 when none


def dynamics(m: EpochMatrix, labels: np.ndarray) -> DynamicsScores:
    """AUM and data-map scores from ``m``; ``labels`` the given label of each sample (-1 none)."""
    p = m.label_probability
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a sample missing from every epoch
        confidence = np.nanmean(p, axis=0)
        variability = np.nanstd(p, axis=0)
        aum = np.nanmean(m.margin, axis=0) if m.margin is not None else None
    correctness = None
    suggested = np.full(p.shape[1], -1, dtype=np.int64)
    if m.prediction is not None:
        pred = m.prediction
        seen = pred >= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            correctness = (pred == labels[None, :]).sum(0) / np.maximum(seen.sum(0), 1)
        suggested = _most_frequent_other(pred, labels)
    if aum is not None:
        score = np.clip((1.0 - aum) / 2.0, 0.0, 1.0)
        flag = aum < 0
    else:
        score = np.clip(1.0 - confidence, 0.0, 1.0)
        flag = confidence < 0.5
    valid = labels >= 0
    score = np.where(valid & np.isfinite(score), score, np.nan)
    return DynamicsScores(
        aum=aum,
        confidence=confidence,
        variability=variability,
        correctness=correctness,
        score=score,
        flag=flag & valid & np.isfinite(score),
        suggested=suggested,
    )


def _most_frequent_other(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per sample, the class predicted most often among epochs that did not predict its label."""
    n_classes = int(max(pred.max(initial=-1), labels.max(initial=-1))) + 1
    out = np.full(pred.shape[1], -1, dtype=np.int64)
    if n_classes <= 0:
        return out
    counts = np.zeros((pred.shape[1], n_classes), dtype=np.int32)
    cols = np.arange(pred.shape[1])
    for row in pred:  # one epoch at a time: memory stays n × classes
        ok = (row >= 0) & (row != labels)
        np.add.at(counts, (cols[ok], row[ok]), 1)
    best = counts.argmax(1)
    has = counts[cols, best] > 0
    out[has] = best[has]
    return out
