"""Tables as PyTorch training data: a map-style ``Dataset`` and a sampler that honours ``weight``.

This is what closes the loop: a sample deleted in the dashboard is gone from the next revision, and
one whose weight was set to 0 is never drawn by :meth:`TableDataset.sampler`, so the next run
trains without it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

import numpy as np
import pyarrow as pa

from tercet import aliases, storage
from tercet.dependencies import install_hint
from tercet.errors import RunError
from tercet.schema import WEIGHT_COLUMN, Schema
from tercet.tables import usage

try:
    import torch
    from torch.utils.data import Dataset, Sampler
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        f"Using tables as training data needs PyTorch: {install_hint('torch')}."
    ) from exc


class TableLike(Protocol):
    """What a dataset reads of a table revision (:class:`tercet.Table` is one)."""

    @property
    def url(self) -> str: ...

    @property
    def num_rows(self) -> int: ...

    @property
    def table_name(self) -> str: ...

    @property
    def project_url(self) -> str: ...

    @property
    def schema(self) -> Schema: ...

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table: ...

    def example_ids(self) -> np.ndarray: ...

    def resolve_url(self, url: str) -> str: ...

    def latest(self) -> Self: ...


T = TypeVar("T")
_SCALAR, _OBJECT, _IMAGE = range(3)
U = TypeVar("U")


class _Compose:
    """``second(first(x))``, picklable when both are (lambdas are not: use module functions)."""

    def __init__(self, first: Callable[[Any], Any], second: Callable[[Any], Any]) -> None:
        self.first = first
        self.second = second

    def __call__(self, value: Any) -> Any:
        return self.second(self.first(value))


def _identity(value: Any) -> Any:
    return value


class TableDataset(Dataset[T], Generic[T]):
    """A table revision as a map-style PyTorch ``Dataset``.

    ``dataset[i]`` is row ``i`` as a dict (image columns loaded as PIL images) passed through the
    transform. Pickles small (the revision's descriptor, not its rows), so DataLoader workers
    work; each worker reads the rows once on first access.

    Make one with :meth:`tercet.Table.as_dataset` or :meth:`tercet.Table.map`.
    """

    def __init__(
        self,
        table: TableLike,
        columns: Sequence[str] | None = None,
        transform: Callable[[dict[str, Any]], T] | None = None,
        load_images: bool = True,
    ) -> None:
        self.table = table
        self.columns = list(columns) if columns is not None else None
        if self.columns is not None:
            for name in self.columns:
                table.schema[name]  # raises naming the columns there are
        self.transform: Callable[[Any], Any] = transform or _identity
        self.load_images = load_images
        self._aliases = _python_aliases()
        self._rows: list[tuple[str, int, Any]] | None = None

    def __repr__(self) -> str:
        return f"TableDataset({self.table.url!r}, rows={len(self)})"

    def __len__(self) -> int:
        return self.table.num_rows

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_rows"] = None  # each worker reads the rows itself instead of unpickling them
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # Aliases set from Python in the parent are not in a spawned worker's registry.
        known = aliases.values(self.table.project_url)
        for name, value in self._aliases.items():
            if name not in known:
                aliases.set(name, value)

    def _load(self) -> list[tuple[str, int, Any]]:
        """Per column: its name, how to read one value (:data:`_SCALAR`, :data:`_OBJECT`,
        :data:`_IMAGE`) and its values; decided once, since ``row`` runs per sample."""
        if self._rows is None:
            names = self.columns if self.columns is not None else self.table.schema.names
            data = self.table.to_arrow(names)
            rows: list[tuple[str, int, Any]] = []
            for name in names:
                values = _column_values(data.column(name).combine_chunks())
                if self.load_images and self.table.schema[name].role == "image":
                    rows.append((name, _IMAGE, _resolve_urls(self.table, values)))
                elif isinstance(values, np.ndarray) and values.ndim == 1:
                    rows.append((name, _SCALAR, values))
                else:
                    rows.append((name, _OBJECT, values))
            self._rows = rows
        return self._rows

    def row(self, index: int) -> dict[str, Any]:
        """Row ``index`` before the transform."""
        rows = self._load()
        # The column's length, not len(self): that asks the table, a cost on every sample.
        n = len(rows[0][2]) if rows else len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"Row {index} is out of range: the dataset has {n} rows.")
        out: dict[str, Any] = {}
        for name, kind, values in rows:
            if kind == _SCALAR:
                out[name] = values.item(index)  # a Python value, without a NumPy scalar between
            elif kind == _IMAGE:
                url = values[index]
                out[name] = None if url is None else _load_image(url)
            else:
                out[name] = values[index]
        return out

    def __getitem__(self, index: int) -> T:
        return self.transform(self.row(int(index)))  # type: ignore[no-any-return]

    def map(self, transform: Callable[[T], U]) -> TableDataset[U]:
        """A dataset whose samples are ``transform(sample)``; chains with earlier transforms."""
        out: TableDataset[U] = TableDataset(self.table, self.columns, None, self.load_images)
        out.transform = (
            transform if self.transform is _identity else _Compose(self.transform, transform)
        )
        out._aliases = self._aliases
        out._rows = self._rows
        return out

    def example_ids(self) -> np.ndarray:
        """``example_id`` of each position."""
        return np.asarray(self.table.example_ids(), dtype=np.int64)

    def weights(self) -> np.ndarray:
        """``weight`` of each position (1.0 for tables without weights)."""
        if WEIGHT_COLUMN not in self.table.schema:
            return np.ones(len(self), np.float32)
        column = self.table.to_arrow([WEIGHT_COLUMN]).column(WEIGHT_COLUMN)
        return np.asarray(column.fill_null(1.0).to_numpy(), dtype=np.float32)

    def sampler(
        self,
        weighted: bool = True,
        exclude_zero_weight: bool = True,
        num_samples: int | None = None,
        seed: int | None = None,
    ) -> TableSampler:
        """A sampler over this dataset's positions that honours the ``weight`` column.

        See :class:`TableSampler`.
        """
        return TableSampler(self.weights(), weighted, exclude_zero_weight, num_samples, seed)


def _column_values(column: pa.Array) -> Any:
    typ = column.type
    primitive = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
    if primitive and column.null_count == 0:
        return column.to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_list(typ) and column.null_count == 0:
        # A writable copy: torch warns about (and may write through) read-only Arrow buffers.
        flat = np.array(column.flatten().to_numpy(zero_copy_only=False))
        return flat.reshape(len(column), typ.list_size)
    return column.to_pylist()


def _resolve_urls(table: TableLike, values: list[str | None]) -> list[str | None]:
    """Absolute URLs for a column of stored URLs, expanding each alias once rather than per row
    (an alias lookup consults the config, which costs more than reading a small image)."""
    roots: dict[str, str] = {}
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        match = aliases.ALIAS_URL.match(value)
        if match is None:
            out.append(table.resolve_url(value))
            continue
        name, rest = match.group(1), match.group(2) or ""
        if name not in roots:
            roots[name] = table.resolve_url(f"<{name}>")
        out.append(storage.join(roots[name], rest) if rest else roots[name])
    return out


def _load_image(url: str) -> Any:
    from PIL import Image

    # Decoded lazily, on first use of the pixels, like Image.open(path); the bytes stay with it.
    return Image.open(io.BytesIO(storage.read_bytes(url)))


def _python_aliases() -> dict[str, str]:
    return {
        name: value
        for name, (value, source) in aliases.list().items()
        if source.startswith("python")
    }


class TableSampler(Sampler[int]):
    """Draws dataset positions according to the table's ``weight`` column.

    - ``weighted=True``: rows are drawn with probability proportional to their weight (with
      replacement); when every positive weight is equal this is a plain shuffle of those rows, so
      each is seen once per epoch. Zero-weight rows are never drawn.
    - ``weighted=False``: a shuffle of every row, or of the rows with weight > 0 when
      ``exclude_zero_weight`` (the default).

    Parameters
    ----------
    weights
        One weight ≥ 0 per position.
    num_samples
        Draws per epoch; by default the number of eligible rows.
    seed
        Makes the sequence of epochs reproducible; otherwise seeded from ``torch``'s global RNG,
        so ``torch.manual_seed`` applies.
    """

    def __init__(
        self,
        weights: np.ndarray,
        weighted: bool = True,
        exclude_zero_weight: bool = True,
        num_samples: int | None = None,
        seed: int | None = None,
    ) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise RunError("Sample weights must be finite and ≥ 0.")
        self.weighted = weighted
        eligible = w > 0 if (weighted or exclude_zero_weight) else np.ones(len(w), bool)
        self.positions = np.flatnonzero(eligible).astype(np.int64)
        if len(self.positions) == 0:
            raise RunError("Every sample has weight 0: there is nothing to train on.")
        chosen = w[self.positions]
        self.uniform = not weighted or bool(np.all(chosen == chosen[0]))
        self.probabilities = None if self.uniform else chosen / chosen.sum()
        self.num_samples = int(num_samples) if num_samples is not None else len(self.positions)
        if self.num_samples <= 0:
            raise RunError(f"num_samples must be > 0; received {num_samples}.")
        self.seed = seed
        self._epoch = 0

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        if self.seed is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
        else:
            seed = self.seed + self._epoch
        self._epoch += 1
        generator = torch.Generator().manual_seed(seed)
        n = len(self.positions)
        if self.uniform:
            chunks = []
            remaining = self.num_samples
            while remaining > 0:  # more draws than rows: whole shuffles, then a partial one
                chunks.append(torch.randperm(n, generator=generator)[:remaining])
                remaining -= n
            picks = torch.cat(chunks).numpy()
        else:
            assert self.probabilities is not None
            picks = torch.multinomial(
                torch.as_tensor(self.probabilities), self.num_samples, replacement=True,
                generator=generator,
            ).numpy()  # fmt: skip
        yield from self.positions[picks].tolist()


def as_dataset(
    table: TableLike,
    columns: Sequence[str] | None = None,
    latest: bool = True,
    load_images: bool = True,
) -> TableDataset[dict[str, Any]]:
    """``table`` (by default its latest revision) as a :class:`TableDataset` of row dicts.

    When a run is active, the revision is recorded as one of its inputs (split: the table name).
    """
    revision = table.latest() if latest else table
    dataset: TableDataset[dict[str, Any]] = TableDataset(revision, columns, None, load_images)
    usage.notify(revision, revision.table_name)
    return dataset


def sampler(
    table: TableLike,
    weighted: bool = True,
    exclude_zero_weight: bool = True,
    num_samples: int | None = None,
    seed: int | None = None,
    latest: bool = True,
) -> TableSampler:
    """A :class:`TableSampler` for ``table`` (by default its latest revision)."""
    revision = table.latest() if latest else table
    return TableDataset(revision).sampler(weighted, exclude_zero_weight, num_samples, seed)
