"""Exact and near duplicates, grouped.

Three kinds of evidence link two samples: the same file content (a hash of the bytes), perceptual
hashes at most :data:`PHASH_MAX_BITS` bits apart (a resized, re-encoded or slightly cropped copy;
images under :data:`PHASH_MIN_SIDE` pixels are left out),
and embeddings closer than a fraction of the typical nearest-neighbour distance (cleanlab's rule:
``0.13 ×`` the median). Linked samples form groups (connected components of the links, scipy's
union-find); a group is named by its smallest ``example_id``.

Perceptual hashes are compared without an all-pairs loop: split into :data:`BANDS` bands, two
hashes within ``BANDS - 1`` bits share at least one band exactly (pigeonhole), so only samples that
share a band bucket are compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tercet.insights.neighbours import Neighbours

PHASH_MAX_BITS = 5
PHASH_MIN_SIDE = 32  # a perceptual hash of a smaller image says little: tiny images collide
BANDS = 8
EMBEDDING_FRACTION = 0.13
MAX_BUCKET = 2000  # a band shared by more samples is a blank or constant image: its own check


@dataclass
class DuplicateGroups:
    group: np.ndarray  # int64 example id naming the group, -1 for a sample without duplicates
    exact: np.ndarray  # bool: has a byte-identical copy
    label_conflict: np.ndarray  # bool: its group holds more than one label


def exact_pairs(content_hash: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (first, other) of rows with equal content hashes (chains, not all pairs)."""
    order = np.argsort(content_hash, kind="stable")
    ordered = content_hash[order]
    same = ordered[1:] == ordered[:-1]
    return order[:-1][same], order[1:][same]


def _popcount(x: np.ndarray) -> np.ndarray:
    counts: np.ndarray = np.unpackbits(x.view(np.uint8).reshape(len(x), 8), axis=1).sum(1)
    return counts


def hamming(phash: np.ndarray, one: int) -> np.ndarray:
    """Bits by which each 64-bit perceptual hash differs from ``one`` (int64 views)."""
    return _popcount(np.ascontiguousarray(phash, dtype=np.int64) ^ np.int64(one))


def phash_pairs(phash: np.ndarray, max_bits: int = PHASH_MAX_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows whose 64-bit perceptual hashes differ in at most ``max_bits`` bits."""
    h = phash.astype(np.uint64)
    bits = 64 // BANDS
    firsts: list[np.ndarray] = []
    others: list[np.ndarray] = []
    for band in range(BANDS):
        key = (h >> np.uint64(band * bits)) & np.uint64((1 << bits) - 1)
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], len(ordered)]
        for s, e in zip(starts, ends, strict=True):
            if e - s < 2 or e - s > MAX_BUCKET:
                continue
            members = order[s:e]
            a, b = np.triu_indices(len(members), 1)
            close = _popcount(h[members[a]] ^ h[members[b]]) <= max_bits
            firsts.append(members[a][close])
            others.append(members[b][close])
    if not firsts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(firsts), np.concatenate(others)


def cross_exact(
    mine: np.ndarray, mine_ok: np.ndarray, theirs: np.ndarray, theirs_ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``mine``, whether another set holds the same content hash, and its row there
    (-1 when none); rows not ``*_ok`` (no image) take no part."""
    rows = np.flatnonzero(theirs_ok)
    if not len(rows):
        return np.zeros(len(mine), bool), np.full(len(mine), -1, dtype=np.int64)
    order = rows[np.argsort(theirs[rows], kind="stable")]
    ordered = theirs[order]
    pos = np.clip(np.searchsorted(ordered, mine), 0, len(order) - 1)
    hit = mine_ok & (ordered[pos] == mine)
    return hit, np.where(hit, order[pos], -1)


def cross_phash(
    mine: np.ndarray, mine_ok: np.ndarray, theirs: np.ndarray, theirs_ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``mine``, whether another set holds a perceptual hash within
    :data:`PHASH_MAX_BITS` bits, and its row there (-1 when none)."""
    a_rows, b_rows = np.flatnonzero(mine_ok), np.flatnonzero(theirs_ok)
    both = np.concatenate([mine[a_rows], theirs[b_rows]])
    first, other = phash_pairs(both)
    split = len(a_rows)
    # Keep pairs across the two sets, each oriented (mine, theirs).
    lo, hi = np.minimum(first, other), np.maximum(first, other)
    across = (lo < split) & (hi >= split)
    hit = np.zeros(len(mine), bool)
    match = np.full(len(mine), -1, dtype=np.int64)
    match[a_rows[lo[across]]] = b_rows[hi[across] - split]
    hit[a_rows[lo[across]]] = True
    return hit, match


def embedding_threshold(nearest: np.ndarray) -> float:
    """The cosine distance under which two embeddings count as near duplicates."""
    finite = nearest[np.isfinite(nearest)]
    return float(EMBEDDING_FRACTION * np.median(finite)) if len(finite) else 0.0


def embedding_pairs(nb: Neighbours, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows whose embeddings are within ``threshold`` of each other."""
    rows = np.repeat(np.arange(len(nb.index)), nb.index.shape[1])
    cols = nb.index.reshape(-1)
    close = (nb.distance.reshape(-1) <= threshold) & (cols >= 0)
    return rows[close], cols[close]


def group(
    example_ids: np.ndarray,
    labels: np.ndarray | None,
    pairs: list[tuple[np.ndarray, np.ndarray]],
    exact: tuple[np.ndarray, np.ndarray] | None = None,
) -> DuplicateGroups:
    """Groups from linked pairs (row indices): each named by its smallest example id."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(example_ids)
    every = [*pairs, *([exact] if exact is not None else [])]
    a = np.concatenate([p[0] for p in every]) if every else np.empty(0, np.int64)
    b = np.concatenate([p[1] for p in every]) if every else np.empty(0, np.int64)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component, minlength=n)
    smallest = np.full(component.max(initial=0) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, component, example_ids.astype(np.int64))
    in_group = sizes[component] > 1
    group_id = np.where(in_group, smallest[component], -1)
    is_exact = np.zeros(n, dtype=bool)
    if exact is not None:
        is_exact[exact[0]] = True
        is_exact[exact[1]] = True
    conflict = np.zeros(n, dtype=bool)
    if labels is not None and in_group.any():
        rows = np.flatnonzero(in_group & (labels >= 0))
        comp = component[rows]
        lo = np.full(len(sizes), np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(len(sizes), np.iinfo(np.int64).min, dtype=np.int64)
        np.minimum.at(lo, comp, labels[rows])
        np.maximum.at(hi, comp, labels[rows])
        conflict[rows] = lo[comp] != hi[comp]
    return DuplicateGroups(group=group_id, exact=is_exact, label_conflict=conflict)
