"""Copies of a split's samples in the run's other splits (train/val leakage)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tercet.insights import duplicates, neighbours, quality
from tercet.insights.inputs import Inputs, split_embeddings, split_images

CROSS_KINDS = ("exact", "perceptual", "embedding")


def cross_split(
    inp: Inputs,
    nb: neighbours.Neighbours | None,
    stats: quality.ImageStats | None,
    cols: dict[str, Any],
    workers: int,
) -> None:
    """Copies in the run's other splits (train/val leakage): the same file content, a perceptual
    hash within :data:`~tercet.insights.duplicates.PHASH_MAX_BITS` bits, or an embedding within
    the near-duplicate threshold. The strongest kind found names the match."""
    n = inp.n
    kind = np.full(n, len(CROSS_KINDS), dtype=np.int8)  # index into CROSS_KINDS; lower = stronger
    other_id = np.full(n, -1, dtype=np.int64)
    other_split = np.full(n, None, dtype=object)
    best = np.full(n, np.inf, dtype=np.float32)
    column = inp.columns.get("embedding")
    threshold = (
        duplicates.embedding_threshold(nb.distance[:, 0])
        if nb is not None and nb.index.shape[1]
        else None
    )

    def take(hit: np.ndarray, level: int, theirs: np.ndarray, split: str) -> None:
        better = hit & (level < kind)
        kind[better] = level
        other_id[better] = theirs[better]
        other_split[better] = split

    for split in inp.run.splits:
        if split == inp.split:
            continue
        if stats is not None:
            found = split_images(inp.run, split)
            if found is not None:
                ids, urls, table = found
                theirs = quality.read_images(urls, table.resolve_url, workers)
                has = np.isfinite(theirs.width)
                mine = np.isfinite(stats.width)
                hit, match = duplicates.cross_exact(
                    stats.content_hash, mine, theirs.content_hash, has
                )
                take(hit, 0, ids[np.clip(match, 0, None)], split)
                big = np.fmin(stats.width, stats.height) >= duplicates.PHASH_MIN_SIDE
                big_theirs = np.fmin(theirs.width, theirs.height) >= duplicates.PHASH_MIN_SIDE
                hit, match = duplicates.cross_phash(stats.phash, big, theirs.phash, big_theirs)
                take(hit, 1, ids[np.clip(match, 0, None)], split)
        if threshold is not None and inp.embeddings is not None and column is not None:
            emb = split_embeddings(inp.run, split, column)
            if emb is None or emb[1].shape[1] != inp.embeddings.shape[1] or not len(emb[0]):
                continue
            near = neighbours.VectorIndex(emb[1]).search(inp.embeddings, 1)
            d, j = near.distance[:, 0], near.index[:, 0]
            closer = (d <= threshold) & (j >= 0) & (d < best)
            best[closer] = d[closer]
            take(closer, 2, emb[0][np.clip(j, 0, None)], split)
    leak = kind < len(CROSS_KINDS)
    cols["is_cross_split_duplicate"] = pa.array(leak)
    cols["cross_split"] = pa.array(
        [s if hit else None for s, hit in zip(other_split.tolist(), leak.tolist(), strict=True)],
        pa.string(),
    )
    cols["cross_split_id"] = pa.array(other_id, pa.int64(), mask=~leak)
    cols["cross_split_match"] = pa.array(
        [CROSS_KINDS[k] if k < len(CROSS_KINDS) else None for k in kind.tolist()], pa.string()
    )
