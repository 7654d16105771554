"""Confident learning (Northcutt et al. 2021) on a split's class probabilities, through cleanlab.

The probabilities come from the collector's ``probabilities`` column (every class), else from its
``top_labels``/``top_probabilities`` columns, with the mass left over spread evenly over the other
classes (cleanlab needs a full matrix; the classes outside the top-k are where a label error's true
class is least likely to hide). Out-of-sample probabilities (a ``val`` split, cross-validated
folds) are what confident learning is made for; on the training split of a network that has
memorised its noise it sees little, which is why training dynamics lead there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tercet.dependencies import require
from tercet.errors import InsightsError


@dataclass
class ConfidentScores:
    score: np.ndarray  # 1 - cleanlab's label quality: higher = more likely mislabelled
    flag: np.ndarray
    suggested: np.ndarray  # argmax of the probabilities


def from_top_k(labels: np.ndarray, probs: np.ndarray, n_classes: int) -> np.ndarray:
    """A full n × classes matrix from top-k ``labels`` and ``probs`` (n × k each)."""
    n, k = probs.shape
    rest = np.clip(1.0 - probs.sum(1, keepdims=True), 0.0, 1.0) / max(n_classes - k, 1)
    out = np.repeat(rest, n_classes, axis=1).astype(np.float32)
    rows = np.repeat(np.arange(n), k)
    cols = labels.reshape(-1)
    ok = (cols >= 0) & (cols < n_classes)
    out[rows[ok], cols[ok]] = probs.reshape(-1)[ok]
    normalised: np.ndarray = out / out.sum(1, keepdims=True)
    return normalised


def confident_learning(labels: np.ndarray, pred_probs: np.ndarray) -> ConfidentScores:
    """cleanlab's label quality and issue flags; rows with no label (-1) score NaN."""
    require("cleanlab", "Confident learning", InsightsError)
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    n, k = pred_probs.shape
    valid = (labels >= 0) & (labels < k)
    score = np.full(n, np.nan)
    flag = np.zeros(n, dtype=bool)
    probs = pred_probs[valid].astype(np.float64)
    probs /= probs.sum(1, keepdims=True)
    given = labels[valid].astype(np.int64)
    present = np.unique(given)
    if len(present) >= 2:
        # cleanlab wants every class among the labels; classes nobody carries are dropped.
        remap = np.full(k, -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        p = probs[:, present]
        p /= np.maximum(p.sum(1, keepdims=True), 1e-12)
        y = remap[given]
        quality = get_label_quality_scores(y, p)
        issues = find_label_issues(y, p, n_jobs=1)
        score[valid] = 1.0 - quality
        flag[valid] = issues
    return ConfidentScores(score=score, flag=flag, suggested=pred_probs.argmax(1).astype(np.int64))
