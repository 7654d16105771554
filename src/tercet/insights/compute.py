"""``tercet.insights.compute``: every applicable check on one split of a run, written once.

Label errors combine up to three scores, each kept as its own column: training dynamics
(``aum``, ``dm_*``; :mod:`~tercet.insights.dynamics`), confident learning on class probabilities
(``cl_score``; :mod:`~tercet.insights.confident`) and disagreement with the embedding neighbours
(``knn_label_score``; :mod:`~tercet.insights.outliers`). Training dynamics lead when the split
has two epochs or more (they see the noise a network later memorises): ``label_issue_score`` is
then the weighted mean (:data:`WEIGHTS`) of dynamics and neighbours, and ``is_label_issue`` marks
scores above :data:`FLAG_SCORE`. Without dynamics the score averages confident learning and the
neighbours, and the flag is cleanlab's, else the neighbours'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tercet.errors import InsightsError
from tercet.insights import confident, duplicates, neighbours, outliers, quality, store
from tercet.insights import summary as summary_mod
from tercet.insights.cross_split import cross_split
from tercet.insights.dynamics import dynamics
from tercet.insights.inputs import Inputs, load
from tercet.runs.folder import check_split
from tercet.runs.metrics import MetricSpec, header
from tercet.runs.run import Run
from tercet.schema import ID_COLUMN

CHECKS = ("label", "duplicates", "outliers", "quality")
WEIGHTS = {"dynamics": 2.0, "confident": 1.0, "knn": 1.0}
FLAG_SCORE = 0.5
K = 10


def _applicable(inp: Inputs) -> dict[str, str | None]:
    """Each check -> None when it can run, else what it is missing."""
    m = inp.missing
    label = m.get("labels") or m.get("classification")
    if (
        label is None
        and inp.matrix is None
        and inp.probabilities is None
        and inp.embeddings is None
    ):
        label = "neither per-epoch metrics, probabilities nor embeddings"
    return {
        "label": label,
        "duplicates": (
            None
            if inp.embeddings is not None or inp.image_urls is not None
            else f"{m['embeddings']}; and {m['images']}"
        ),
        "outliers": m.get("embeddings"),
        "quality": m.get("images"),
    }


def plan(inp: Inputs, checks: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """The checks to run and those skipped (with why); an error when a requested check cannot
    run, or when none can."""
    if checks is not None:
        unknown = sorted(set(checks) - set(CHECKS))
        if unknown:
            raise InsightsError(f"Unknown checks {unknown}; the checks are {list(CHECKS)}.")
    can = _applicable(inp)
    wanted = list(CHECKS) if checks is None else [c for c in CHECKS if c in checks]
    blocked = {c: reason for c in wanted if (reason := can[c]) is not None}
    where = f"run {inp.run.name}, split {inp.split!r}"
    if checks is not None and blocked:
        raise InsightsError(
            f"Cannot run {', '.join(blocked)} on {where}: "
            + "; ".join(f"{c} needs more: {r}" for c, r in blocked.items())
            + ". Nothing was written."
        )
    run = [c for c in wanted if c not in blocked]
    if not run:
        raise InsightsError(
            f"No insight applies to {where}: "
            + "; ".join(f"{c}: {r}" for c, r in blocked.items())
            + ". Nothing was written."
        )
    return run, blocked


def compute(
    run: Run | str,
    split: str = "train",
    epoch: int | None = None,
    checks: Sequence[str] | None = None,
    *,
    k: int = K,
    workers: int = quality.DEFAULT_WORKERS,
    progress: Callable[[str, int, int], None] | None = None,
) -> pa.Table:
    """Compute insights for one split of a run, write them under the run, and return them.

    Parameters
    ----------
    run
        A :class:`~tercet.Run` or its URL.
    split
        The split whose metrics are scored.
    epoch
        Score as of this epoch (training dynamics over epochs up to it); the latest by default.
    checks
        Any of ``"label"``, ``"duplicates"``, ``"outliers"``, ``"quality"``; every check that
        applies by default. A check asked for by name that cannot run is an error.
    k
        Neighbours per sample for the embedding checks.
    workers
        Threads reading image files.
    progress
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    pyarrow.Table
        One row per ``example_id`` (see ``docs/insights.md`` for every column); null where a
        check did not apply. :class:`~tercet.errors.InsightsError` when nothing applies or an
        input is missing; nothing is written then.
    """
    r = run if isinstance(run, Run) else Run.open(run)
    check_split(split)
    report = progress or (lambda stage, done, total: None)
    report("load", 0, 1)
    inp = load(r, split, epoch)
    report("load", 1, 1)
    ran, skipped = plan(inp, checks)
    n = inp.n
    cols: dict[str, Any] = {ID_COLUMN: pa.array(inp.example_ids, pa.int64())}
    specs: dict[str, MetricSpec] = {}

    stats = None
    if inp.image_urls is not None and ("quality" in ran or "duplicates" in ran):
        total = sum(u is not None for u in inp.image_urls)
        done = [0]

        def tick(step: int) -> None:
            done[0] += step
            report("images", done[0], total)

        stats = quality.read_images(inp.image_urls, inp.table.resolve_url, workers, tick)
    nb = wide = None
    if inp.embeddings is not None and ({"label", "duplicates", "outliers"} & set(ran)):
        report("neighbours", 0, n)
        # One search serves every embedding check; the within-class outlier score looks deeper.
        wide = neighbours.knn(inp.embeddings, outliers.WIDE * k)
        nb = neighbours.Neighbours(wide.index[:, :k], wide.distance[:, :k])
        report("neighbours", n, n)

    if "label" in ran:
        report("label", 0, 1)
        _label(inp, nb, cols, specs)
        report("label", 1, 1)
    if "label" in ran and inp.embeddings is not None and inp.prediction is not None:
        report("clusters", 0, 1)
        _clusters(inp, cols)
        report("clusters", 1, 1)
    if "duplicates" in ran:
        report("duplicates", 0, 1)
        _duplicates(inp, nb, stats, cols)
        report("duplicates", 1, 1)
        if len(inp.run.splits) > 1:
            report("cross-split", 0, 1)
            cross_split(inp, nb, stats, cols, workers)
            report("cross-split", 1, 1)
    if stats is not None:  # kept: similarity search by an uploaded image uses them
        no_image = ~np.isfinite(stats.width)
        cols["content_hash"] = pa.array(stats.content_hash, pa.int64(), mask=no_image)
        cols["perceptual_hash"] = pa.array(stats.phash, pa.int64(), mask=no_image)
    if "outliers" in ran and wide is not None:
        report("outliers", 0, 1)
        o = outliers.outliers(wide, inp.labels, k)
        report("outliers", 1, 1)
        cols["outlier_score"] = _f(o.score)
        cols["is_outlier"] = pa.array(o.flag)
        if o.class_score is not None:
            cols["class_outlier_score"] = _f(o.class_score)
    quality_checks: list[str] = []
    if "quality" in ran and stats is not None:
        scores = quality.scores(stats)
        for check, flag in quality.flags(scores).items():
            cols[f"{check}_score"] = _f(scores[check])
            cols[f"is_{check}"] = pa.array(flag)
            quality_checks.append(check)
    _fill_required(cols, n)
    report("write", 0, 1)
    table = pa.table(cols)
    summary = _summary(inp, table, ran, skipped, quality_checks)
    head = header(
        run=r.name,
        table=r.stored_url(inp.table.url),
        table_id=inp.table.id,
        table_name=inp.table.table_name,
        dataset=inp.table.dataset,
        split=split,
        epoch=inp.epoch,
        epochs=inp.epochs,
        checks=ran,
        summary=summary,
    )
    store.write(r.url, split, table, head, specs)
    report("write", 1, 1)
    return table


def _f(values: np.ndarray) -> pa.Array:
    arr = np.asarray(values, dtype=np.float32)
    return pa.array(arr, mask=~np.isfinite(arr))


def _label(
    inp: Inputs,
    nb: neighbours.Neighbours | None,
    cols: dict[str, Any],
    specs: dict[str, MetricSpec],
) -> None:
    assert inp.labels is not None
    labels = inp.labels
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []  # method, score, flag, sugg.
    if inp.matrix is not None and len(inp.matrix.epochs) >= 2:
        d = dynamics(inp.matrix, labels)
        if d.aum is not None:
            cols["aum"] = _f(d.aum)
        cols["dm_confidence"] = _f(d.confidence)
        cols["dm_variability"] = _f(d.variability)
        if d.correctness is not None:
            cols["dm_correctness"] = _f(d.correctness)
        parts.append(("dynamics", d.score, d.flag, d.suggested))
    if inp.probabilities is not None:
        c = confident.confident_learning(labels, inp.probabilities)
        cols["cl_score"] = _f(c.score)
        parts.append(("confident", c.score, c.flag, c.suggested))
    if nb is not None:
        p = outliers.label_purity(nb, labels)
        cols["knn_label_score"] = _f(p.score)
        parts.append(("knn", p.score, p.flag, p.suggested))
    if not parts:
        return
    # With training dynamics, in-sample probabilities add nothing they do not already hold (the
    # last epoch is one of theirs) and only dilute them: confident learning then keeps its own
    # column but stays out of the combined score.
    combined = [x for x in parts if not (x[0] == "confident" and parts[0][0] == "dynamics")]
    weights = np.array([WEIGHTS[m] for m, *_ in combined])
    stacked = np.vstack([s for _, s, _, _ in combined])
    present = np.isfinite(stacked)
    score = (np.where(present, stacked, 0) * weights[:, None]).sum(0) / np.maximum(
        (present * weights[:, None]).sum(0), 1e-12
    )
    score = np.where(present.any(0), score, np.nan)
    lead, _, flag, suggested = parts[0]
    if lead == "dynamics":
        flag = np.nan_to_num(score, nan=0.0) > FLAG_SCORE
    for _, _, _, other in parts[1:]:
        suggested = np.where(suggested >= 0, suggested, other)
    suggested = np.where(flag & (suggested != labels), suggested, -1)
    cols["label_issue_score"] = _f(score)
    cols["is_label_issue"] = pa.array(flag & (labels >= 0))
    cols["suggested_label"] = pa.array(suggested.astype(np.int32), mask=suggested < 0)
    specs["suggested_label"] = MetricSpec(
        "prediction", inp.value_map, {"target": inp.label_column} if inp.label_column else {}
    )


def _clusters(inp: Inputs, cols: dict[str, Any]) -> None:
    """Embedding clusters whose accuracy is far below the average (k-means, one cluster per
    :data:`~tercet.insights.summary.CLUSTER_SIZE` samples, at most ``MAX_CLUSTERS``)."""
    assert inp.embeddings is not None and inp.prediction is not None and inp.labels is not None
    count = min(summary_mod.MAX_CLUSTERS, max(2, inp.n // summary_mod.CLUSTER_SIZE))
    cluster = neighbours.clusters(inp.embeddings, count)
    cols["cluster"] = pa.array(cluster, pa.int32())
    weak = summary_mod.low_accuracy_clusters(cluster, inp.labels, inp.prediction)
    cols["is_low_accuracy_cluster"] = pa.array(weak)


def _duplicates(
    inp: Inputs,
    nb: neighbours.Neighbours | None,
    stats: quality.ImageStats | None,
    cols: dict[str, Any],
) -> None:
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    exact = None
    if stats is not None:
        has = np.flatnonzero(np.isfinite(stats.width))
        a, b = duplicates.exact_pairs(stats.content_hash[has])
        exact = (has[a], has[b])
        big = np.flatnonzero(np.fmin(stats.width, stats.height) >= duplicates.PHASH_MIN_SIDE)
        a, b = duplicates.phash_pairs(stats.phash[big])
        pairs.append((big[a], big[b]))
    if nb is not None and nb.index.shape[1]:
        threshold = duplicates.embedding_threshold(nb.distance[:, 0])
        pairs.append(duplicates.embedding_pairs(nb, threshold))
        nearest = nb.index[:, 0]
        ids = inp.example_ids[np.clip(nearest, 0, None)]
        cols["nearest_id"] = pa.array(ids, pa.int64(), mask=nearest < 0)
        cols["nearest_distance"] = _f(nb.distance[:, 0])
    g = duplicates.group(inp.example_ids, inp.labels, pairs, exact)
    cols["duplicate_group"] = pa.array(g.group, pa.int64(), mask=g.group < 0)
    cols["is_near_duplicate"] = pa.array(g.group >= 0)
    cols["is_exact_duplicate"] = pa.array(g.exact)
    if inp.labels is not None:
        cols["duplicate_label_conflict"] = pa.array(g.label_conflict)


REQUIRED = {
    "label_issue_score": pa.float32(),
    "is_label_issue": pa.bool_(),
    "suggested_label": pa.int32(),
    "duplicate_group": pa.int64(),
    "nearest_id": pa.int64(),
    "nearest_distance": pa.float32(),
    "outlier_score": pa.float32(),
}


def _fill_required(cols: dict[str, Any], n: int) -> None:
    """The documented columns are always there, null where their check did not run."""
    for name, typ in REQUIRED.items():
        if name not in cols:
            cols[name] = pa.nulls(n, typ)


def _summary(
    inp: Inputs, table: pa.Table, ran: list[str], skipped: dict[str, str], quality_checks: list[str]
) -> summary_mod.Summary:
    classes, imbalance, accuracy = summary_mod.classes(inp.labels, inp.prediction, inp.value_map)
    notes = dict(skipped)
    if "label" in ran:
        if inp.matrix is None or len(inp.matrix.epochs) < 2:
            notes["label.dynamics"] = "needs metrics of two epochs or more"
        if inp.probabilities is None:
            notes["label.confident"] = inp.missing.get("probabilities", "no probabilities")
        if inp.embeddings is None:
            notes["label.knn"] = inp.missing.get("embeddings", "no embeddings")
    return {
        "run": inp.run.name,
        "split": inp.split,
        "rows": inp.n,
        "epochs": inp.epochs,
        "checks": ran,
        "skipped": notes,
        "issues": summary_mod.issues(table, quality_checks),
        "classes": classes,
        "imbalance": imbalance,
        "accuracy": accuracy,
    }
