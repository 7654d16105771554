"""Outliers in the embedding space, and how far each label agrees with its neighbours.

The outlier score is the mean cosine distance to the ``k`` nearest neighbours (the kNN score
cleanlab's Datalab and FiftyOne's uniqueness build on); a sample is flagged when its score lies
more than :data:`ROBUST_Z` robust standard deviations (1.4826 × the median absolute deviation)
above the median. The same score within each class finds samples far from the rest of their
class. Label purity is the share of the ``k`` neighbours that carry the sample's label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tercet.insights.neighbours import Neighbours, knn

ROBUST_Z = 6.0


@dataclass
class OutlierScores:
    score: np.ndarray
    flag: np.ndarray
    class_score: np.ndarray | None


def robust_flags(score: np.ndarray, z: float = ROBUST_Z) -> np.ndarray:
    """Scores far above the median, in median absolute deviations."""
    finite = score[np.isfinite(score)]
    if len(finite) < 3:
        return np.zeros(len(score), dtype=bool)
    median = float(np.median(finite))
    mad = float(np.median(np.abs(finite - median))) * 1.4826
    spread = mad if mad > 0 else float(np.std(finite)) or 1e-12
    flags: np.ndarray = np.isfinite(score) & (score > median + z * spread)
    return flags


def outliers(
    nb: Neighbours, vectors: np.ndarray, labels: np.ndarray | None, k: int
) -> OutlierScores:
    """Outlier scores from the neighbours already found, and per class when ``labels`` exist."""
    score = (
        nb.distance.mean(1).astype(np.float64) if nb.distance.shape[1] else np.zeros(len(nb.index))
    )
    class_score = None
    if labels is not None:
        class_score = np.full(len(score), np.nan)
        for label in np.unique(labels[labels >= 0]):
            rows = np.flatnonzero(labels == label)
            if len(rows) > 1:
                within = knn(vectors[rows], k)
                class_score[rows] = within.distance.mean(1)
    return OutlierScores(score=score, flag=robust_flags(score), class_score=class_score)


@dataclass
class PurityScores:
    purity: np.ndarray  # share of neighbours with the same label
    score: np.ndarray  # 1 - purity, NaN without a label
    flag: np.ndarray  # most neighbours agree on another label
    suggested: np.ndarray  # the neighbours' most common label


def label_purity(nb: Neighbours, labels: np.ndarray) -> PurityScores:
    """How far each label agrees with the labels of its embedding neighbours."""
    n, k = nb.index.shape
    theirs = np.where(nb.index >= 0, labels[np.clip(nb.index, 0, None)], -1)
    valid = labels >= 0
    agree = (theirs == labels[:, None]) & (theirs >= 0)
    counted = np.maximum((theirs >= 0).sum(1), 1)
    purity = agree.sum(1) / counted
    n_classes = int(labels.max(initial=-1)) + 1
    suggested = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n)
    if n_classes > 0 and k > 0:
        votes = np.zeros((n, n_classes), dtype=np.int32)
        rows = np.repeat(np.arange(n), k)
        flat = theirs.reshape(-1)
        ok = flat >= 0
        np.add.at(votes, (rows[ok], flat[ok]), 1)
        suggested = votes.argmax(1).astype(np.int64)
        share = votes.max(1) / counted
    score = np.where(valid, 1.0 - purity, np.nan)
    flag = valid & (suggested != labels) & (share > 0.5)
    return PurityScores(purity=purity, score=score, flag=flag, suggested=suggested)
