"""Nearest neighbours by cosine distance: the one place that knows which index library is used.

Exact search (faiss ``IndexFlatIP``, blocked) up to :data:`EXACT_LIMIT` vectors, so small sets
are scored exactly; an inverted-file index beyond (``IndexIVFFlat``: ``2·√n`` k-means cells
trained on a seeded sample, :data:`NPROBE` cells searched), which is deterministic too. Chosen by
measurement on 100k × 128 clustered vectors on two shared cores (docs/insights.md): IVF built in
17 s and searched all 100k in 6 s at recall@10 1.0; faiss's HNSW graph took 42 + 73 s (recall
0.986) and usearch's 91 + 137 s (0.999).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tercet.dependencies import require
from tercet.errors import InsightsError

EXACT_LIMIT = 20_000
BLOCK = 4096
NPROBE = 8
TRAIN_PER_CELL = 40  # faiss asks for at least 39 points per cell
KMEANS_ITERATIONS = 10  # faiss default 25; at 200k × 128 the same recall@10 (1.0)
SEED = 0


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, contiguous); zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


@dataclass
class Neighbours:
    """For each vector its ``k`` nearest others: row indices (-1 = none) and cosine distances."""

    index: np.ndarray  # n × k int64
    distance: np.ndarray  # n × k float32


class VectorIndex:
    """Cosine-distance search over a fixed set of vectors (rows are identified by position)."""

    def __init__(self, vectors: np.ndarray) -> None:
        faiss = require("faiss", "Nearest-neighbour search", InsightsError)
        self.vectors = normalise(vectors)
        n, d = self.vectors.shape
        self.exact = n <= EXACT_LIMIT
        if self.exact:
            self._index = faiss.IndexFlatIP(d)
        else:
            cells = int(2 * np.sqrt(n))
            self._quantiser = faiss.IndexFlatIP(d)  # kept: the IVF index does not own it
            self._index = faiss.IndexIVFFlat(self._quantiser, d, cells, faiss.METRIC_INNER_PRODUCT)
            self._index.cp.seed = SEED
            self._index.cp.niter = KMEANS_ITERATIONS
            rng = np.random.default_rng(SEED)
            sample = rng.choice(n, min(n, cells * TRAIN_PER_CELL), replace=False)
            self._index.train(self.vectors[np.sort(sample)])
            self._index.nprobe = NPROBE
        self._index.add(self.vectors)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        """The ``k`` nearest indexed vectors of each query (unit-normalised here)."""
        q = normalise(queries)
        k = max(1, min(k, len(self)))
        idx = np.empty((len(q), k), dtype=np.int64)
        dist = np.empty((len(q), k), dtype=np.float32)
        for start in range(0, len(q), BLOCK):  # bounds the similarity block in memory
            sims, found = self._index.search(q[start : start + BLOCK], k)
            idx[start : start + BLOCK] = found
            dist[start : start + BLOCK] = np.clip(1.0 - sims, 0.0, 2.0)
        return Neighbours(idx, dist)


def knn(vectors: np.ndarray, k: int) -> Neighbours:
    """The ``k`` nearest *other* vectors of each vector (a vector is never its own neighbour)."""
    index = VectorIndex(vectors)
    k = max(0, min(k, len(index) - 1))
    if k == 0:
        return Neighbours(
            np.empty((len(index), 0), np.int64), np.empty((len(index), 0), np.float32)
        )
    found = index.search(index.vectors, k + 1)
    own = found.index == np.arange(len(index))[:, None]
    # Drop the vector itself where it was found, else the farthest (an exact duplicate may rank
    # ahead of the vector itself).
    drop = np.where(own.any(1), own.argmax(1), k)
    keep = np.ones_like(own)
    keep[np.arange(len(index)), drop] = False
    return Neighbours(found.index[keep].reshape(-1, k), found.distance[keep].reshape(-1, k))
