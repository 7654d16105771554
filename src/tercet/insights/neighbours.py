"""Nearest neighbours by cosine distance: the one place that knows which index library is used.

Exact search (faiss ``IndexFlatIP``, blocked) up to :data:`EXACT_LIMIT` vectors, so small sets
are scored exactly; an inverted-file index beyond (``IndexIVFFlat``: ``CELLS_SCALE·n^(2/3)``
k-means cells trained on a seeded sample, :data:`NPROBE` cells searched), which is deterministic
too. Chosen by measurement (docs/insights.md): on 100k × 128 the inverted file was built in 17 s
and searched all 100k in 6 s at recall@10 1.0, where faiss's HNSW graph took 42 + 73 s (recall
0.986) and usearch's 91 + 137 s (0.999); on 1M × 128, 4,000 cells cost 218 CPU seconds
(train, add, search all) against 248 for 2,000, an HNSW coarse quantiser 276, and 8-bit scalar
quantisation fell to recall@10 0.948.

The all-against-all search (:func:`knn`) assigns every vector to its cells once: the nearest
cell files it, the :data:`NPROBE` nearest are where its neighbours are looked for, so the coarse
quantiser runs one pass instead of two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tercet.dependencies import require
from tercet.errors import InsightsError

EXACT_LIMIT = 20_000
BLOCK = 4096
NPROBE = 8
# Cells: training costs ~cells², the self-search ~n² / cells, so the cheapest count grows as
# n^(2/3); 0.4·n^(2/3) is the measured 4,000 at 1M (docs/insights.md).
CELLS_SCALE = 0.4
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
        self._cells: np.ndarray | None = None  # n × NPROBE nearest cells of each vector (IVF)
        if self.exact:
            self._index = faiss.IndexFlatIP(d)
            self._index.add(self.vectors)
            return
        cells = min(int(CELLS_SCALE * n ** (2 / 3)), n // TRAIN_PER_CELL)
        self._quantiser = faiss.IndexFlatIP(d)  # kept: the IVF index does not own it
        self._index = faiss.IndexIVFFlat(self._quantiser, d, cells, faiss.METRIC_INNER_PRODUCT)
        self._index.cp.seed = SEED
        self._index.cp.niter = KMEANS_ITERATIONS
        rng = np.random.default_rng(SEED)
        sample = rng.choice(n, min(n, cells * TRAIN_PER_CELL), replace=False)
        self._index.train(self.vectors[np.sort(sample)])
        self._index.nprobe = min(NPROBE, cells)
        assigned = np.empty((n, self._index.nprobe), dtype=np.int64)
        for start in range(0, n, BLOCK * 4):
            _, assigned[start : start + BLOCK * 4] = self._quantiser.search(
                self.vectors[start : start + BLOCK * 4], self._index.nprobe
            )
        nearest_cell = np.ascontiguousarray(assigned[:, 0])  # referenced: faiss reads it
        self._index.add_core(n, faiss.swig_ptr(self.vectors), None, faiss.swig_ptr(nearest_cell))
        self._cells = assigned

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

    def search_self(self, k: int) -> Neighbours:
        """The ``k`` nearest indexed vectors of each indexed vector (itself included), through
        the cells it was assigned to when it was added."""
        if self._cells is None:
            return self.search(self.vectors, k)
        k = max(1, min(k, len(self)))
        idx = np.empty((len(self), k), dtype=np.int64)
        dist = np.empty((len(self), k), dtype=np.float32)
        zeros = np.zeros((BLOCK, self._index.nprobe), dtype=np.float32)
        for start in range(0, len(self), BLOCK):
            cells = np.ascontiguousarray(self._cells[start : start + BLOCK])
            sims, found = self._index.search_preassigned(
                self.vectors[start : start + BLOCK], k, cells, zeros[: len(cells)]
            )
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
    found = index.search_self(k + 1)
    own = found.index == np.arange(len(index))[:, None]
    # Drop the vector itself where it was found, else the farthest (an exact duplicate may rank
    # ahead of the vector itself).
    drop = np.where(own.any(1), own.argmax(1), k)
    keep = np.ones_like(own)
    keep[np.arange(len(index)), drop] = False
    return Neighbours(found.index[keep].reshape(-1, k), found.distance[keep].reshape(-1, k))


def clusters(vectors: np.ndarray, count: int) -> np.ndarray:
    """Each vector's cluster (0..count-1) by seeded spherical k-means, trained on a sample."""
    faiss = require("faiss", "Clustering", InsightsError)
    unit = normalise(vectors)
    n, d = unit.shape
    count = max(1, min(count, n))
    kmeans = faiss.Kmeans(d, count, niter=KMEANS_ITERATIONS, seed=SEED, spherical=True)
    sample = np.random.default_rng(SEED).choice(n, min(n, count * 256), replace=False)
    kmeans.train(unit[np.sort(sample)])
    _, found = kmeans.index.search(unit, 1)
    out: np.ndarray = found[:, 0].astype(np.int32)
    return out
