"""The summary of an insights table: per issue type its count and top examples, the classes'
balance, and classes whose accuracy is far below the average."""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
import pyarrow as pa

from tercet.schema import ID_COLUMN

TOP = 20


class IssueSummary(TypedDict):
    """One issue type: the flag column to filter by, the score column to sort by, how many rows
    carry it and the ids of the worst ones."""

    type: str
    description: str
    flag: str
    score: str | None
    count: int
    top: list[int]


class ClassSummary(TypedDict):
    label: int
    name: str
    count: int
    share: float
    accuracy: float | None
    low_accuracy: bool


class Summary(TypedDict):
    """What ``tercet insights`` prints and ``GET /api/insights/summary`` returns."""

    run: str
    split: str
    rows: int
    epochs: list[int]
    checks: list[str]
    skipped: dict[str, str]
    issues: list[IssueSummary]
    classes: list[ClassSummary]
    imbalance: float | None  # largest class count / smallest
    accuracy: float | None


# flag column -> (issue type, score column, description)
ISSUES: dict[str, tuple[str, str | None, str]] = {
    "is_label_issue": ("label_issue", "label_issue_score", "likely mislabelled"),
    "is_exact_duplicate": ("exact_duplicate", None, "byte-identical copies"),
    "is_near_duplicate": ("near_duplicate", "nearest_distance", "near duplicates"),
    "duplicate_label_conflict": (
        "duplicate_label_conflict",
        None,
        "duplicates whose labels differ",
    ),
    "is_cross_split_duplicate": (
        "cross_split_duplicate",
        None,
        "near duplicates in another split (leakage)",
    ),
    "is_outlier": ("outlier", "outlier_score", "far from every other sample"),
    "is_low_accuracy_cluster": (
        "low_accuracy_cluster",
        None,
        "in an embedding cluster whose accuracy is far below the average",
    ),
}
CLUSTER_SIZE = 200  # samples per embedding cluster
MIN_CLUSTER = 20  # a smaller cluster's accuracy says too little
MAX_CLUSTERS = 100


def issue_columns(quality_checks: list[str]) -> dict[str, tuple[str, str | None, str]]:
    out = dict(ISSUES)
    for check in quality_checks:
        out[f"is_{check}"] = (check, f"{check}_score", f"image: {check.replace('_', ' ')}")
    return out


def issues(table: pa.Table, quality_checks: list[str]) -> list[IssueSummary]:
    out: list[IssueSummary] = []
    ids = table.column(ID_COLUMN).to_numpy()
    for flag, (kind, score, text) in issue_columns(quality_checks).items():
        if flag not in table.column_names or table.column(flag).null_count == len(table):
            continue
        mask = np.asarray(table.column(flag).fill_null(False).to_numpy(zero_copy_only=False))
        rows = np.flatnonzero(mask)
        if score is not None and score in table.column_names and len(rows):
            values = np.nan_to_num(
                np.asarray(table.column(score).to_numpy(zero_copy_only=False), dtype=float)[rows],
                nan=-np.inf,
            )
            descending = score != "nearest_distance"  # nearer = more of a duplicate
            order = np.argsort(-values if descending else values, kind="stable")
            rows = rows[order]
        out.append(
            {
                "type": kind,
                "description": text,
                "flag": flag,
                "score": score,
                "count": int(mask.sum()),
                "top": [int(i) for i in ids[rows[:TOP]]],
            }
        )
    return out


def classes(
    labels: np.ndarray | None, prediction: np.ndarray | None, value_map: dict[int, Any] | None
) -> tuple[list[ClassSummary], float | None, float | None]:
    """Per class: count, share, accuracy; a class is low when its error is at least twice the
    average and five points above it. Returns the classes, the imbalance ratio, the accuracy."""
    if labels is None:
        return [], None, None
    valid = labels >= 0
    present, counts = np.unique(labels[valid], return_counts=True)
    total = max(int(valid.sum()), 1)
    overall = None
    if prediction is not None and valid.any():
        overall = float((prediction[valid] == labels[valid]).mean())
    out: list[ClassSummary] = []
    right = (
        np.bincount(labels[valid], weights=prediction[valid] == labels[valid])
        if (prediction is not None)
        else None
    )
    for label, count in zip(present, counts, strict=True):
        acc = float(right[label] / count) if right is not None else None
        entry = (value_map or {}).get(int(label))
        name = entry["name"] if isinstance(entry, dict) else str(entry or label)
        out.append(
            {
                "label": int(label),
                "name": name,
                "count": int(count),
                "share": count / total,
                "accuracy": acc,
                "low_accuracy": acc is not None and overall is not None and low(acc, overall),
            }
        )
    imbalance = float(counts.max() / counts.min()) if len(counts) else None
    return out, imbalance, overall


def low(accuracy: float, overall: float) -> bool:
    """Far below the average: an error at least twice the average and five points above it."""
    error, average = 1 - accuracy, 1 - overall
    return bool(error >= 2 * average and error >= average + 0.05)


def low_accuracy_clusters(
    cluster: np.ndarray, labels: np.ndarray, prediction: np.ndarray
) -> np.ndarray:
    """Per sample: whether its embedding cluster (of :data:`MIN_CLUSTER` labelled samples or
    more) has an accuracy far below the average (:func:`low`)."""
    valid = (labels >= 0) & (prediction >= 0)
    if not valid.any():
        return np.zeros(len(labels), dtype=bool)
    size = np.bincount(cluster[valid], minlength=int(cluster.max(initial=0)) + 1)
    right = np.bincount(
        cluster[valid], weights=prediction[valid] == labels[valid], minlength=len(size)
    )
    overall = float((prediction[valid] == labels[valid]).mean())
    accuracy = right / np.maximum(size, 1)
    weak = np.array(
        [s >= MIN_CLUSTER and low(a, overall) for s, a in zip(size, accuracy, strict=True)]
    )
    out: np.ndarray = weak[cluster] & (labels >= 0)
    return out
