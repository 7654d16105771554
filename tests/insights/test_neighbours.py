"""Nearest neighbours: exact for small sets, an inverted file beyond; never a sample itself."""

from __future__ import annotations

import numpy as np
import pytest

from tercet.insights import neighbours


def clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (20, 16)).astype(np.float32)
    return centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(0, 1, (n, 16)).astype(np.float32)


@pytest.mark.parametrize("exact_limit", [10_000, 100], ids=["exact", "inverted-file"])
def test_knn_finds_the_true_neighbours_and_never_the_sample_itself(
    exact_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neighbours, "EXACT_LIMIT", exact_limit)
    x = clustered(2000)
    x[7] = x[3]  # an exact copy ranks with the sample itself
    found = neighbours.knn(x, 5)
    assert not (found.index == np.arange(len(x))[:, None]).any()
    assert found.index[3, 0] == 7 and found.index[7, 0] == 3
    unit = neighbours.normalise(x)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    truth = np.argsort(-sims, axis=1)[:, :5]
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(truth, found.index, strict=True)])
    assert recall > 0.97
    np.testing.assert_allclose(found.distance[:, 0], 1 - sims.max(1), atol=1e-4)
    again = neighbours.knn(x, 5)
    assert (again.index == found.index).all()  # the same every time, the inverted file included
    # The self-search through each vector's stored cells equals a search of the same queries.
    index = neighbours.VectorIndex(x)
    queried = index.search(x[:300], 6)
    assert (index.search_self(6).index[:300] == queried.index).all()


def test_clusters_separate_distinct_groups_the_same_way_every_time() -> None:
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(3), 100)
    x = np.eye(3, 16)[group] * 5 + 0.1 * rng.normal(0, 1, (300, 16))
    found = neighbours.clusters(x, 3)
    assert len(set(zip(group.tolist(), found.tolist(), strict=True))) == 3
    assert (neighbours.clusters(x, 3) == found).all()
