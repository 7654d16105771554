# Over 400 lines: three parts (digits, planted images beside peers, speed) share scoring helpers.
"""How well and how fast tercet.insights finds planted problems.

    .venv/bin/python bench/bench_insights.py [--epochs 30] [--images 5000] [--speed 1000000]

1. Label errors on the digits demo (3% of training labels flipped on purpose), trained for
   ``--epochs`` with ``ClassificationCollector(probabilities=True)``: average precision of
   ``label_issue_score`` on the train split, beside ranking by last-epoch loss, by mean loss over
   epochs, cleanlab's label-quality ranking on the same (last-epoch) probabilities, and cleanlab
   Datalab's label issues on the last-epoch probabilities and on the probabilities averaged over
   epochs. Target: ≥ 0.95 and ≥ Datalab's.
2. A synthetic image set of ``--images`` 64×64 PNGs (env ``TERCET_BENCH_IMAGES``; the issue asks
   for ≥ 50k, the default 5,000 runs in a few minutes on two shared cores) with 1% each of
   planted exact duplicates, near duplicates (resized, re-encoded as JPEG, cropped by 2 px),
   outliers (another domain: pixel noise, with embeddings far from every class), blurred and
   darkened images, and 3% flipped labels (embeddings stay with the true class): precision,
   recall, F1, precision at the planted count and AUROC per detector, beside cleanlab Datalab
   (label, outlier, near-duplicate issues on the same embeddings) and cleanvision (blurry, dark,
   exact and near duplicates on the same files; ``pip install cleanvision``, the ``bench``
   extra), and the time of ``compute``.
3. Speed: every check that applies without images on ``--speed`` samples × 128-d embeddings:
   time per stage, peak RSS, recall of ``nearest_id`` against exact search on a sample.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from sklearn.metrics import average_precision_score, roc_auc_score
from torch.utils.data import DataLoader

import tercet
from tercet import demo, storage
from tercet.insights import compute


def digits(root: str, epochs: int) -> dict[str, float]:
    folder = storage.join(root, "digits-data")
    _, labels = demo.write_images(folder)
    demo.write_project_alias(tercet.project_url("bench", root), folder)
    train_table, val_table, injected = demo.create_tables("bench", root, folder, labels, 0)
    torch.manual_seed(0)
    run = tercet.init(project="bench", run="digits", root=root, heartbeat=False)
    train_data, val_data = train_table.map(demo.to_sample), val_table.map(demo.to_sample)
    loader = DataLoader(train_data, batch_size=64, sampler=train_data.sampler(seed=0))
    model = demo.DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        for data in (train_data, val_data):
            collectors = [
                tercet.ClassificationCollector(label="label", probabilities=True),
                tercet.EmbeddingCollector("embed"),
            ]
            result = run.collect_metrics(data, collectors, model, epoch=epoch)
        accuracy = result["aggregates"].get("accuracy", 0)
        print(f"  epoch {epoch + 1}/{epochs}: val accuracy {accuracy:.3f}", flush=True)
    run.close()
    return {"training s": time.perf_counter() - started, **evaluate(run, train_table, injected)}


def evaluate(run: tercet.Run, train_table: tercet.Table, injected: Any) -> dict[str, float]:
    """Average precision of each ranking against the flipped labels, on the train split."""
    epochs = len({f["epoch"] for f in run.metric_files("train")})
    started = time.perf_counter()
    scores = compute(run, split="train")
    took = time.perf_counter() - started
    ids = scores.column("example_id").to_numpy()
    truth = np.isin(ids, list(injected))
    every = run.metrics("train", columns=["loss", "prediction", "probabilities"]).to_pandas()
    mean_loss = every.groupby("example_id").loss.mean().reindex(ids).to_numpy()
    last = every[every.epoch == epochs - 1].set_index("example_id").reindex(ids)
    train_acc = float((last.prediction.to_numpy() == label_of(train_table, ids)).mean())
    from cleanlab.rank import get_label_quality_scores

    probs = np.stack(last.probabilities.to_numpy())
    quality = get_label_quality_scores(label_of(train_table, ids), probs)

    def col(name: str) -> np.ndarray:
        values = scores.column(name).to_numpy(zero_copy_only=False).astype(float)
        out: np.ndarray = np.nan_to_num(values)
        return out

    flagged = col("is_label_issue").astype(bool)
    given = label_of(train_table, ids)
    mean_probs = np.stack(
        every.groupby("example_id")
        .probabilities.apply(lambda p: np.mean(np.stack(p), axis=0))
        .reindex(ids)
        .to_numpy()
    )
    lab_last, lab_last_s = datalab(given, probs)
    lab_mean, _ = datalab(given, mean_probs)
    out = {
        "train accuracy (last epoch, noisy labels)": train_acc,
        "AP label_issue_score": average_precision_score(truth, col("label_issue_score")),
        "AP aum": average_precision_score(truth, -col("aum")),
        "AP last-epoch loss": average_precision_score(truth, last.loss.to_numpy()),
        "AP mean loss over epochs": average_precision_score(truth, mean_loss),
        "AP cleanlab (last-epoch probabilities)": average_precision_score(truth, -quality),
        "AP cl_score (in compute)": average_precision_score(truth, col("cl_score")),
        "is_label_issue precision": float(truth[flagged].mean()) if flagged.any() else 0.0,
        "is_label_issue count": float(flagged.sum()),
        "is_label_issue recall": float(flagged[truth].mean()),
        "AP Datalab (last-epoch probabilities)": average_precision_score(
            truth, -lab_last["label_score"].to_numpy()
        ),
        "AP Datalab (probabilities averaged over epochs)": average_precision_score(
            truth, -lab_mean["label_score"].to_numpy()
        ),
        "Datalab is_label_issue count (last epoch)": float(lab_last["is_label_issue"].sum()),
        "Datalab is_label_issue precision (last epoch)": _precision(
            truth, lab_last["is_label_issue"].to_numpy()
        ),
        "Datalab is_label_issue recall (last epoch)": float(
            lab_last["is_label_issue"].to_numpy()[truth].mean()
        ),
        "Datalab is_label_issue count (averaged)": float(lab_mean["is_label_issue"].sum()),
        "Datalab is_label_issue precision (averaged)": _precision(
            truth, lab_mean["is_label_issue"].to_numpy()
        ),
        "Datalab is_label_issue recall (averaged)": float(
            lab_mean["is_label_issue"].to_numpy()[truth].mean()
        ),
        "compute s": took,
        "Datalab s (label check)": lab_last_s,
    }
    return out


def datalab(labels: np.ndarray, probs: np.ndarray) -> tuple[Any, float]:
    """cleanlab Datalab's label issues on ``probs``, in the order of ``labels``, and its time."""
    from cleanlab import Datalab

    started = time.perf_counter()
    lab = Datalab(data={"label": labels.tolist()}, label_name="label", verbosity=0)
    lab.find_issues(pred_probs=probs, issue_types={"label": {}})
    return lab.get_issues("label"), time.perf_counter() - started


def _precision(truth: np.ndarray, flag: np.ndarray) -> float:
    flag = flag.astype(bool)
    return float(truth[flag].mean()) if flag.any() else float("nan")


def label_of(table: tercet.Table, ids: np.ndarray) -> np.ndarray:
    t = table.to_arrow(["example_id", "label"]).to_pandas().set_index("example_id")
    out: np.ndarray = t.label.reindex(ids).to_numpy()
    return out


def texture(rng: np.random.Generator, size: int = 64) -> Image.Image:
    small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


class Planted(NamedTuple):
    exact: np.ndarray
    near: np.ndarray
    outlier: np.ndarray
    blurred: np.ndarray
    dark: np.ndarray
    flipped: np.ndarray
    source_of: dict[int, int]  # copy row -> the row it copies


def plant(n: int, rng: np.random.Generator) -> Planted:
    """1% of rows each: exact copies, near copies, outliers, blurred, darkened; 3% flipped."""
    k = max(n // 100, 5)
    rows = rng.permutation(n)
    exact, near, outlier, blurred, dark = (np.sort(rows[i * k : (i + 1) * k]) for i in range(5))
    sources = rows[-2 * k :]  # distinct from every planted row
    source_of = {int(r): int(s) for r, s in zip(np.r_[exact, near], sources, strict=True)}
    clean = rows[5 * k : n - 2 * k]
    flipped = np.sort(rng.choice(clean, int(0.03 * n), replace=False))
    return Planted(exact, near, outlier, blurred, dark, flipped, source_of)


def write_synthetic(folder: Path, n: int, planted: Planted) -> list[str]:
    """The image files: each row a random texture (seeded by its row), with the planted changes.
    Written in row order, streamed: a copy's source is regenerated from its seed."""
    folder.mkdir(parents=True)
    exact, near = set(planted.exact.tolist()), set(planted.near.tolist())
    outlier, blurred = set(planted.outlier.tolist()), set(planted.blurred.tolist())
    dark = set(planted.dark.tolist())
    paths = []
    for i in range(n):
        path = folder / f"{i:06d}.png"
        if i in exact:
            path.write_bytes(_png(texture(np.random.default_rng(10_000 + planted.source_of[i]))))
        elif i in near:
            src = texture(np.random.default_rng(10_000 + planted.source_of[i]))
            kind = i % 3
            if kind == 0:
                image = src.resize((80, 80), Image.Resampling.BILINEAR)
            elif kind == 1:
                image = Image.open(io.BytesIO(_jpeg(src)))
                path = folder / f"{i:06d}.jpg"
            else:
                image = src.crop((2, 2, 62, 62)).resize((64, 64))
            image.save(path)
        else:
            image = texture(np.random.default_rng(10_000 + i))
            if i in outlier:  # another domain: pixel noise
                noise = np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)
                image = Image.fromarray(noise)
            if i in blurred:
                image = image.filter(ImageFilter.GaussianBlur(3))
            if i in dark:
                image = Image.fromarray((np.asarray(image) * 0.1).astype(np.uint8))
            image.save(path)
        paths.append(str(path))
        if (i + 1) % 10_000 == 0:
            print(f"  {i + 1} images written", flush=True)
    return paths


def synthetic_embeddings(n: int, labels: np.ndarray, planted: Planted,
                         rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Class clusters by the true label; copies sit next to their source, outliers nowhere."""
    classes = int(labels.max()) + 1
    centres = rng.normal(0, 1, (classes, 128)) * 3
    emb = centres[labels] + rng.normal(0, 1, (n, 128))
    k = len(planted.outlier)
    emb[planted.outlier] = rng.normal(0, 1, (k, 128)) * 3  # near no class centre, nor each other
    for r, src in planted.source_of.items():
        emb[r] = emb[src] + rng.normal(0, 0.01 if r in set(planted.exact) else 0.05, 128)
    out: np.ndarray = emb.astype(np.float32)
    return out


def synthetic(root: str, n: int, others: bool) -> dict[str, Any]:
    """The planted image set scored by Tercet, and by Datalab and cleanvision when ``others``."""
    rng = np.random.default_rng(0)
    planted = plant(n, rng)
    true_labels = rng.integers(0, 10, n)
    for r, src in planted.source_of.items():
        true_labels[r] = true_labels[src]
    given = true_labels.copy()
    given[planted.flipped] = (true_labels[planted.flipped] + rng.integers(1, 10, len(
        planted.flipped))) % 10  # fmt: skip
    started = time.perf_counter()
    folder = Path(root) / "synthetic"
    paths = write_synthetic(folder, n, planted)
    emb = synthetic_embeddings(n, true_labels, planted, rng)
    written = time.perf_counter() - started
    table = tercet.Table.create({"label": given.astype(np.int32), "image": paths},
                                project="bench", dataset="synthetic", name="train", root=root,
                                roles={"image": "image", "label": "label"})  # fmt: skip
    run = tercet.init(project="bench", run="synthetic", root=root, heartbeat=False)
    ids = table.example_ids()
    # One epoch, as a frozen feature extractor gives: the label check is the embedding
    # neighbours' (no training dynamics), which is what Datalab sees too.
    columns = {"example_id": ids, "loss": np.full(n, 0.1, np.float32), "prediction": given,
               "embedding": emb}  # fmt: skip
    run.write_metrics(table, columns, epoch=0, split="train",
                      roles={"loss": "loss", "prediction": "prediction"})  # fmt: skip
    run.close()
    started, cpu = time.perf_counter(), _cpu()
    scores = compute(run, split="train")
    took = time.perf_counter() - started
    cpu = _cpu() - cpu
    order = np.argsort(scores.column("example_id").to_numpy())
    assert (scores.column("example_id").to_numpy()[order] == np.sort(ids)).all()
    assert (np.sort(ids) == ids).all()

    def col(name: str) -> np.ndarray:
        values = scores.column(name).to_numpy(zero_copy_only=False)
        out: np.ndarray = np.nan_to_num(np.asarray(values, dtype=float))[order]
        return out

    truth = truths(n, planted)
    out: dict[str, Any] = {"images": n, "planted per kind": len(planted.exact),
                           "flipped": len(planted.flipped), "write s": written,
                           "tercet compute s (all checks)": took, "tercet compute CPU s": cpu,
                           "load average": os.getloadavg()[0]}  # fmt: skip
    grouped = ~np.isnan(np.asarray(scores.column("duplicate_group").to_numpy(
        zero_copy_only=False), dtype=float))[order]  # fmt: skip
    tercet_rows = {
        "label": (col("is_label_issue").astype(bool), col("label_issue_score")),
        "duplicates": (grouped, -col("nearest_distance")),
        "outliers": (col("is_outlier").astype(bool), col("outlier_score")),
        "blurry": (col("is_blurry").astype(bool), col("blurry_score")),
        "dark": (col("is_dark").astype(bool), col("dark_score")),
    }
    for name, (flag, score) in tercet_rows.items():
        out[f"tercet {name}"] = prf(truth[name], flag, score)
    wrong = grouped & ~truth["duplicates"]
    out["tercet duplicates flagged wrongly"] = int(wrong.sum())
    for key, value in out.items():  # printed as they come: the peers take long on 50k
        print(f"  {key}: {value}", flush=True)
    if others:
        for name, (flag, score, seconds) in datalab_synthetic(given, emb).items():
            out[f"Datalab {name}"] = {**prf(truth[name], flag, score), "s": seconds}
            print(f"  Datalab {name}: {out[f'Datalab {name}']}", flush=True)
        for name, (flag, score, seconds) in cleanvision_synthetic(folder, paths).items():
            out[f"cleanvision {name}"] = {**prf(truth[name], flag, score), "s": seconds}
            print(f"  cleanvision {name}: {out[f'cleanvision {name}']}", flush=True)
    return out


def truths(n: int, planted: Planted) -> dict[str, np.ndarray]:
    def mask(rows: Any) -> np.ndarray:
        m = np.zeros(n, bool)
        m[np.asarray(list(rows), dtype=np.int64)] = True
        return m

    every_copy = [*planted.source_of, *planted.source_of.values()]
    return {
        "label": mask(planted.flipped),
        "duplicates": mask(every_copy),
        "outliers": mask(planted.outlier),
        "blurry": mask(planted.blurred),
        "dark": mask(planted.dark),
    }


def datalab_synthetic(
    labels: np.ndarray, emb: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """cleanlab Datalab on the same labels and embeddings: flag, score (higher = worse), time."""
    from cleanlab import Datalab

    started = time.perf_counter()
    lab = Datalab(data={"label": labels.tolist()}, label_name="label", verbosity=0)
    lab.find_issues(features=emb, issue_types={"label": {}, "outlier": {}, "near_duplicate": {}})
    seconds = time.perf_counter() - started
    out = {}
    for name, kind in (("label", "label"), ("outliers", "outlier"),
                       ("duplicates", "near_duplicate")):  # fmt: skip
        issues = lab.get_issues(kind)
        out[name] = (issues[f"is_{kind}_issue"].to_numpy(), -issues[f"{kind}_score"].to_numpy(),
                     seconds)  # fmt: skip
    return out


def cleanvision_synthetic(
    folder: Path, paths: list[str]
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """cleanvision on the same image files: flag, score (higher = worse), time."""
    from cleanvision import Imagelab

    started = time.perf_counter()
    lab = Imagelab(filepaths=paths)
    lab.find_issues(
        {"blurry": {}, "dark": {}, "exact_duplicates": {}, "near_duplicates": {}},
        verbose=False,
    )
    seconds = time.perf_counter() - started
    issues = lab.issues.reindex(paths)
    dup = (issues["is_exact_duplicates_issue"] | issues["is_near_duplicates_issue"]).to_numpy()
    dup_score = -np.fmin(issues["exact_duplicates_score"].to_numpy(),
                         issues["near_duplicates_score"].to_numpy())  # fmt: skip
    return {
        "blurry": (issues["is_blurry_issue"].to_numpy(), -issues["blurry_score"].to_numpy(),
                   seconds),
        "dark": (issues["is_dark_issue"].to_numpy(), -issues["dark_score"].to_numpy(), seconds),
        "duplicates": (dup.astype(bool), dup_score, seconds),
    }  # fmt: skip


def prf(truth: np.ndarray, flag: np.ndarray, score: np.ndarray | None) -> dict[str, float]:
    flag = np.asarray(flag, dtype=bool)
    tp = float((truth & flag).sum())
    out = {
        "flagged": float(flag.sum()),
        "precision": tp / max(flag.sum(), 1),
        "recall": tp / max(truth.sum(), 1),
    }
    out["f1"] = 2 * out["precision"] * out["recall"] / max(out["precision"] + out["recall"], 1e-9)
    if score is not None:
        score = np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf)
        top = np.argsort(-score, kind="stable")[: int(truth.sum())]
        out["precision at planted count"] = float(truth[top].mean())
        out["auroc"] = float(roc_auc_score(truth, np.nan_to_num(score, neginf=-1e9)))
        out["ap"] = float(average_precision_score(truth, np.nan_to_num(score, neginf=-1e9)))
    return {k: round(v, 4) for k, v in out.items()}


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speed(root: str, n: int) -> dict[str, Any]:
    """Every check that applies without images (label, duplicates, outliers) on ``n`` samples
    with 128-d embeddings in 1,000 clusters of 10 classes, two epochs; the time of ``compute``,
    the process's peak RSS, and the recall of ``nearest_id`` against exact search on a sample."""
    import faiss

    rng = np.random.default_rng(0)
    cluster = rng.integers(0, 1000, n)
    labels = (cluster % 10).astype(np.int32)
    centres = rng.normal(0, 1, (1000, 128)).astype(np.float32)
    emb = centres[cluster] + 0.5 * rng.normal(0, 1, (n, 128)).astype(np.float32)
    table = tercet.Table.create({"label": labels}, project="bench", dataset="speed",
                                name="train", root=root, roles={"label": "label"})  # fmt: skip
    ids = table.example_ids()
    run = tercet.init(project="bench", run="speed", root=root, heartbeat=False)
    for epoch in range(2):
        p = rng.uniform(0.3, 1.0, n).astype(np.float32)
        columns: dict[str, Any] = {"example_id": ids, "loss": -np.log(p), "prediction": labels,
                                   "label_probability": p, "margin": 2 * p - 1}  # fmt: skip
        if epoch == 1:
            columns["embedding"] = emb
        run.write_metrics(table, columns, epoch=epoch, split="train",
                          roles={"loss": "loss", "prediction": "prediction"})  # fmt: skip
    run.close()
    stages: dict[str, list[float]] = {}  # stage -> [wall s, CPU s]
    opened: dict[str, tuple[float, float]] = {}
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in opened:
            opened[stage] = (time.perf_counter(), _cpu())
        if done == total:
            wall, cpu = opened[stage]
            stages[stage] = [time.perf_counter() - wall, _cpu() - cpu]

    load_before = os.getloadavg()
    cpu_before = _cpu()
    scores = compute(run, split="train", progress=progress)
    took = time.perf_counter() - started
    cpu = _cpu() - cpu_before
    load_after = os.getloadavg()
    # Recall@1 of the nearest neighbour reported, against exact search on 10,000 samples.
    sample = np.sort(rng.choice(n, min(n, 10_000), replace=False))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(128)
    exact.add(unit)
    sims, found = exact.search(unit[sample], 2)
    truth = ids[np.where(found[:, 0] == sample, found[:, 1], found[:, 0])]
    by_id = dict(zip(scores.column("example_id").to_pylist(),
                     scores.column("nearest_id").to_pylist(), strict=True))  # fmt: skip
    reported = np.array([by_id[int(i)] for i in ids[sample]])
    # A tie (two neighbours at the same distance) counts as found.
    best = 1 - np.where(found[:, 0] == sample, sims[:, 1], sims[:, 0])
    got = np.array(scores.column("nearest_distance").to_pylist())[sample]
    hit = (reported == truth) | np.isclose(got, best, atol=1e-5)
    return {"n": n, "compute s": round(took, 1), "compute CPU s (user+sys)": round(cpu, 1),
            "stages (wall s, CPU s)": {k: [round(v, 1) for v in x] for k, x in stages.items()},
            f"nearest_id recall@1 ({len(sample):,} sampled)": float(hit.mean()),
            "peak RSS GiB (process)": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "load average before/after": (load_before[0], load_after[0])}  # fmt: skip


def _datalab_job(labels: np.ndarray, emb: np.ndarray, probs: np.ndarray, out: Any) -> None:
    from cleanlab import Datalab

    started, cpu = time.perf_counter(), _cpu()
    lab = Datalab(data={"label": labels.tolist()}, label_name="label", verbosity=0)
    lab.find_issues(features=emb, pred_probs=probs,
                    issue_types={"label": {}, "outlier": {}, "near_duplicate": {}})  # fmt: skip
    out.put((time.perf_counter() - started, _cpu() - cpu))


def ratio(root: str, n: int, timeout: float) -> dict[str, Any]:
    """Tercet's label, duplicate and outlier checks beside cleanlab Datalab's label, outlier and
    near-duplicate issues on the same ``n`` × 128 embeddings and 10-class probabilities (one
    epoch); Datalab in a child process, stopped after ``timeout`` seconds."""
    import multiprocessing

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, n).astype(np.int32)
    centres = rng.normal(0, 1, (10, 128)).astype(np.float32) * 3
    emb = centres[labels] + rng.normal(0, 1, (n, 128)).astype(np.float32)
    logits = rng.normal(0, 1, (n, 10)).astype(np.float32)
    logits[np.arange(n), labels] += 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    table = tercet.Table.create({"label": labels}, project="bench", dataset="ratio",
                                name="train", root=root, roles={"label": "label"})  # fmt: skip
    ids = table.example_ids()
    run = tercet.init(project="bench", run="ratio", root=root, heartbeat=False)
    run.write_metrics(table, {"example_id": ids, "loss": -np.log(probs[np.arange(n), labels]),
                              "prediction": probs.argmax(1), "probabilities": probs,
                              "embedding": emb}, epoch=0, split="train",
                      roles={"loss": "loss", "prediction": "prediction",
                             "probabilities": "probabilities"})  # fmt: skip
    run.close()
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), _cpu()
    compute(run, split="train")
    tercet_s, tercet_cpu = time.perf_counter() - started, _cpu() - cpu
    out: dict[str, Any] = {"n": n, "tercet s": round(tercet_s, 1),
                           "tercet CPU s": round(tercet_cpu, 1), "load average": load}  # fmt: skip
    print(f"  {out}", flush=True)
    queue: Any = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(
        target=_datalab_job, args=(labels, emb, probs, queue)
    )
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.terminate()
        out["Datalab"] = f"did not finish in {timeout:.0f} s"
    else:
        lab_s, lab_cpu = queue.get()
        out.update({"Datalab s": round(lab_s, 1), "Datalab CPU s (its process)": round(lab_cpu, 1),
                    "ratio Datalab / tercet (wall)": round(lab_s / tercet_s, 2)})  # fmt: skip
    out["load average after"] = os.getloadavg()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--images",
        type=int,
        default=int(os.environ.get("TERCET_BENCH_IMAGES", "5000")),
        help="Synthetic images (env TERCET_BENCH_IMAGES; the issue's figure is 50,000).",
    )
    parser.add_argument("--speed", type=int, default=1_000_000, help="Samples for the speed run.")
    parser.add_argument("--no-others", action="store_true", help="Skip Datalab and cleanvision.")
    parser.add_argument("--ratio", type=int, default=100_000, help="Samples beside Datalab.")
    parser.add_argument("--ratio-timeout", type=float, default=1800, help="Datalab's limit, s.")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["digits", "synthetic", "speed", "ratio"]
    )
    parser.add_argument("--digits-run", help="Evaluate this digits run instead of training.")
    parser.add_argument("--keep", help="Write the projects here (kept) instead of a temp folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or str(Path(tmp) / "root")
        Path(root).mkdir(parents=True, exist_ok=True)
        if args.digits_run:
            run = tercet.Run.open(args.digits_run)
            table = tercet.Table.open(run.inputs[0]["table"])
            noisy = table.to_arrow(["example_id", "injected_noise"]).to_pandas()
            injected = noisy.example_id[noisy.injected_noise].tolist()
            print(f"digits, run {run.name} ({len(run.metric_files('train'))} epochs):")
            for key, value in evaluate(run, table, injected).items():
                print(f"  {key}: {value:.3f}")
        elif "digits" not in args.skip:
            print(f"digits, {args.epochs} epochs:", flush=True)
            for key, value in digits(root, args.epochs).items():
                print(f"  {key}: {value:.3f}")
        if "synthetic" not in args.skip:
            print(f"synthetic images ({args.images}):", flush=True)
            synthetic(root, args.images, not args.no_others)
        if "speed" not in args.skip:
            print(f"all checks on {args.speed} x 128:", flush=True)
            for key, value in speed(root, args.speed).items():
                if isinstance(value, dict):  # the stage table
                    print(f"  {'stage':<12} {'wall s':>8} {'CPU s':>8}")
                    for stage, (wall, cpu) in value.items():
                        print(f"  {stage:<12} {wall:>8.1f} {cpu:>8.1f}")
                else:
                    print(f"  {key}: {value}", flush=True)
        if "ratio" not in args.skip:
            print(f"beside Datalab on {args.ratio} x 128:", flush=True)
            for key, value in ratio(root, args.ratio, args.ratio_timeout).items():
                print(f"  {key}: {value}", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
