"""Outliers in the embedding space, and how far each label agrees with its neighbours.

The outlier score is the mean cosine distance to the ``k`` nearest neighbours (the kNN score
cleanlab's Datalab and FiftyOne's uniqueness build on); a sample is flagged when its score lies
more than :data:`ROBUST_Z` robust standard deviations (1.4826 × the median absolute deviation)
above the median. The same score within each class finds samples far from the rest of their
class; it is read from the one global search, which looks :data:`WIDE` × ``k`` neighbours deep:
the sample's nearest ``k`` of its own class among them, and where fewer are there, the deepest
distance searched for each missing one (a lower bound: a sample with no neighbour of its class
that near is far from its class, and scores at least that far). Label purity is the share of the
``k`` neighbours that carry the sample's label, each weighted by its nearness, with a prior: an
isolated sample, whose neighbours are all far, says little about its label, so its score falls
towards what a random label would get instead of ranking with the samples whose close neighbours
all carry another label (on the planted 50k set this lifts the ranking's average precision from
0.83 to 0.99, docs/insights.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tercet.insights.neighbours import Neighbours

ROBUST_Z = 6.0
WIDE = 2  # the global search looks this many times k deep, for the within-class scores
PRIOR = 1.0  # weight of the uniform prior in the label-purity score, in neighbour weights


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


def outliers(nb: Neighbours, labels: np.ndarray | None, k: int) -> OutlierScores:
    """Outlier scores from the neighbours already found (``nb`` may look deeper than ``k``: the
    first ``k`` give the global score, all of them the within-class one when ``labels`` exist)."""
    k = min(k, nb.distance.shape[1])
    near = nb.distance[:, :k]
    score = near.mean(1, dtype=np.float64) if k else np.zeros(len(nb.index))
    class_score = None if labels is None or not k else _class_scores(nb, labels, k)
    return OutlierScores(score=score, flag=robust_flags(score), class_score=class_score)


def _class_scores(nb: Neighbours, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean distance to the ``k`` nearest of the sample's own class among ``nb``; each one not
    found counts as the deepest distance searched."""
    theirs = np.where(nb.index >= 0, labels[np.clip(nb.index, 0, None)], -1)
    same = (theirs == labels[:, None]) & (labels[:, None] >= 0)
    used = same & (np.cumsum(same, 1) <= k)
    # A class with fewer than k + 1 members has fewer than k others to find.
    sizes = np.bincount(labels[labels >= 0], minlength=1)
    others = np.where(labels >= 0, sizes[np.clip(labels, 0, None)] - 1, 0)
    want = np.minimum(k, others)
    found = used.sum(1)
    deepest = nb.distance[:, -1].astype(np.float64)
    total = np.where(used, nb.distance, 0).sum(1, dtype=np.float64)
    total += np.maximum(want - found, 0) * deepest
    out: np.ndarray = np.where(want > 0, total / np.maximum(want, 1), np.nan)
    return out


@dataclass
class PurityScores:
    purity: np.ndarray  # share of neighbours with the same label
    score: np.ndarray  # 1 - weighted purity with a prior, NaN without a label
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
    score = np.where(valid, 1.0 - _weighted_purity(nb, theirs, labels, n_classes), np.nan)
    flag = valid & (suggested != labels) & (share > 0.5)
    return PurityScores(purity=purity, score=score, flag=flag, suggested=suggested)


def _weighted_purity(
    nb: Neighbours, theirs: np.ndarray, labels: np.ndarray, n_classes: int
) -> np.ndarray:
    """The neighbours' vote for the sample's label, each weighted ``exp(-distance / scale)``
    (``scale`` the median mean neighbour distance of the set), plus :data:`PRIOR` weight spread
    evenly over the classes."""
    if not nb.distance.shape[1] or n_classes <= 0:
        return np.zeros(len(labels))
    mean = nb.distance.mean(1)
    scale = float(np.median(mean[np.isfinite(mean)])) if np.isfinite(mean).any() else 1.0
    weight = np.exp(-nb.distance.astype(np.float64) / max(scale, 1e-6)) * (theirs >= 0)
    agree = (weight * (theirs == labels[:, None])).sum(1)
    out: np.ndarray = (agree + PRIOR / n_classes) / (weight.sum(1) + PRIOR)
    return out
