"""The reduction algorithms behind ``Run.reduce_embeddings``: PCA (scikit-learn), UMAP and
PaCMAP (optional), each fitted once and applied to many files."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from tercet.dependencies import require
from tercet.errors import RunError, TercetError


class Reducer(Protocol):
    """Fits on one set of embeddings, then projects any other set the same way."""

    def fit(self, x: np.ndarray) -> np.ndarray: ...

    def transform(self, x: np.ndarray) -> np.ndarray: ...

    def state(self) -> dict[str, Any] | None: ...


class PCAReducer:
    """Principal components (scikit-learn to fit; a matrix product to apply)."""

    def __init__(self, dims: int, seed: int = 0, **options: Any) -> None:
        self.dims, self.seed, self.options = dims, seed, options
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=self.dims, random_state=self.seed, **self.options)
        pca.fit(x)
        self.mean = pca.mean_.astype(np.float64)
        self.components = pca.components_.astype(np.float64)
        return self.transform(x)

    def transform(self, x: np.ndarray) -> np.ndarray:
        assert self.mean is not None and self.components is not None
        projected: np.ndarray = (x - self.mean) @ self.components.T
        return projected.astype(np.float32)

    def state(self) -> dict[str, Any] | None:
        assert self.mean is not None and self.components is not None
        return {"mean": self.mean.tolist(), "components": self.components.tolist()}

    @classmethod
    def from_state(cls, dims: int, state: dict[str, Any]) -> PCAReducer:
        out = cls(dims)
        out.mean = np.asarray(state["mean"], dtype=np.float64)
        out.components = np.asarray(state["components"], dtype=np.float64)
        return out


class UMAPReducer:
    def __init__(self, dims: int, seed: int = 0, **options: Any) -> None:
        umap = require("umap", "UMAP reduction (PCA works without it)", RunError)
        # A seed makes UMAP single-threaded anyway; saying so avoids its warning.
        options.setdefault("n_jobs", 1)
        self.model = umap.UMAP(n_components=dims, random_state=seed, **options)

    def fit(self, x: np.ndarray) -> np.ndarray:
        self.model.fit(x)
        return np.asarray(self.model.embedding_, dtype=np.float32)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.transform(x), dtype=np.float32)

    def state(self) -> dict[str, Any] | None:
        return None


class PaCMAPReducer:
    def __init__(self, dims: int, seed: int = 0, **options: Any) -> None:
        pacmap = require("pacmap", "PaCMAP reduction (PCA works without it)", RunError)
        self.model = pacmap.PaCMAP(n_components=dims, random_state=seed, save_tree=True, **options)
        self.basis: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> np.ndarray:
        self.basis = x
        return np.asarray(self.model.fit_transform(x, init="pca"), dtype=np.float32)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.transform(x, basis=self.basis), dtype=np.float32)

    def state(self) -> dict[str, Any] | None:
        return None


REDUCERS: dict[str, Callable[..., Reducer]] = {
    "pca": PCAReducer,
    "umap": UMAPReducer,
    "pacmap": PaCMAPReducer,
}


_SET_BY_TERCET = {"n_components", "random_state", "self", "save_tree"}
"""Options Tercet sets itself (``dims``, ``seed``); a reducer never takes them as options."""


def _model_class(method: str, error: type[TercetError]) -> Any:
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA
    if method == "umap":
        return require("umap", "UMAP reduction (PCA works without it)", error).UMAP
    return require("pacmap", "PaCMAP reduction (PCA works without it)", error).PaCMAP


def option_names(method: str, error: type[TercetError] = RunError) -> list[str]:
    """The options the ``method`` reducer takes (its model's keyword arguments, less the ones
    Tercet sets: ``n_components`` from ``dims``, ``random_state`` from ``seed``)."""
    if method not in REDUCERS:
        raise error(f"Unknown reduction method {method!r}; use one of {', '.join(REDUCERS)}.")
    params = inspect.signature(_model_class(method, error).__init__).parameters
    named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sorted(n for n, p in params.items() if n not in _SET_BY_TERCET and p.kind in named)


def check_options(
    method: str, options: Mapping[str, Any], error: type[TercetError] = RunError
) -> None:
    """Raise ``error`` naming the options ``method`` does not take, before anything is fitted
    (so a PCA given ``n_neighbors`` says so instead of failing inside scikit-learn)."""
    if not options:
        return
    known = option_names(method, error)
    unknown = sorted(set(options) - set(known))
    if unknown:
        owners = sorted({m for u in unknown for m in _WELL_KNOWN.get(u, ()) if m != method})
        hint = f" (an option of {' and '.join(owners)})" if owners else ""
        raise error(
            f"{method.upper()} does not take the option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}{hint}. Its options: {', '.join(known)}."
        )


# A static table, so that a hint never imports an optional reducer (PaCMAP compiles on import).
_WELL_KNOWN: dict[str, tuple[str, ...]] = {
    "n_neighbors": ("umap", "pacmap"),
    "min_dist": ("umap",),
    "metric": ("umap",),
    "spread": ("umap",),
    "MN_ratio": ("pacmap",),
    "FP_ratio": ("pacmap",),
    "whiten": ("pca",),
    "svd_solver": ("pca",),
}
