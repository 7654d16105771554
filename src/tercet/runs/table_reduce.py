"""An embedding column of a table reduced to 2-D or 3-D, as a new revision of the table.

``tercet.reduce_embeddings(table, column="embedding", method="umap", dims=2)`` fits the reducer
on the column (a random subset when large), projects every row, and writes a revision that adds
``<column>_<method>_x``, ``_y`` [, ``_z``] (role ``projection``), which the dashboard plots like
a run's projections. The reducers and their option check are the run's
(:mod:`tercet.runs.reducers`); this lives beside them because ``tercet.tables`` never imports
``tercet.runs``.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import pyarrow as pa

from tercet.errors import SchemaError
from tercet.runs import reduce as run_reduce
from tercet.runs.reduce import AXES, CHUNK, METHODS, ReductionJob
from tercet.runs.reducers import REDUCERS, check_options
from tercet.runs.run import Run
from tercet.schema import ID_COLUMN
from tercet.tables.table import Table


def embedding_column(table: Table, column: str | None) -> str:
    """``column`` if it is an embedding column of ``table``; else the only one it has."""
    if column is not None:
        col = table.schema[column]  # raises with the list of columns
        if not pa.types.is_fixed_size_list(col.type):
            raise SchemaError(
                f"Column {column!r} of {table.name} holds {col.type}, not embeddings "
                "(fixed-size lists of floats)."
            )
        return column
    found = [c.name for c in table.schema if c.role == "embedding"]
    if len(found) != 1:
        raise SchemaError(
            f"{table.name} has {'no' if not found else 'several'} embedding columns "
            f"{found or ''}; pass column=.".replace(" ;", ";")
        )
    return str(found[0])


def reduce_table_embeddings(
    table: Table,
    method: str = "pca",
    dims: int = 2,
    *,
    column: str | None = None,
    prefix: str | None = None,
    max_fit_samples: int | None = 100_000,
    seed: int = 0,
    message: str = "",
    **options: Any,
) -> Table:
    """A new revision of ``table`` with ``column`` projected to ``dims`` dimensions.

    Parameters
    ----------
    method
        ``"pca"`` (base install), ``"umap"`` or ``"pacmap"`` (``pip install 'tercet[umap]'``).
    dims
        2 or 3.
    column
        The embedding column; by default the only one.
    prefix
        Names of the new columns: ``<prefix>_x`` …; default ``<column>_<method>``.
    max_fit_samples, seed
        Fit on a random subset this large (``None``: all rows), with this random state.
    **options
        Passed to the reducer; checked first (:class:`~tercet.errors.SchemaError` naming the
        options it does not take, e.g. ``n_neighbors`` for PCA).
    """
    if method not in METHODS:
        raise SchemaError(f"Unknown reduction method {method!r}; use one of {', '.join(METHODS)}.")
    if dims not in (2, 3):
        raise SchemaError(f"dims must be 2 or 3; received {dims!r}.")
    check_options(method, options, SchemaError)
    name = embedding_column(table, column)
    base = prefix or f"{name}_{method}"
    names = [f"{base}_{a}" for a in AXES[:dims]]
    clash = [n for n in names if n in table.schema]
    if clash:
        raise SchemaError(
            f"{table.name} already has the columns {clash}; pass prefix= for other names."
        )
    data = table.to_arrow([ID_COLUMN, name])
    values = data.column(name).combine_chunks()
    if len(values) == 0:
        raise SchemaError(f"{table.name} has no rows to reduce.")
    width = values.type.list_size
    x = values.flatten().to_numpy(zero_copy_only=False).reshape(len(values), width)
    x = x.astype(np.float32, copy=False)
    if np.isnan(x).any():
        raise SchemaError(f"Column {name!r} holds missing values (NaN or null); fill them first.")
    sample = x
    if max_fit_samples is not None and len(x) > max_fit_samples:
        rng = np.random.default_rng(seed)
        sample = x[np.sort(rng.choice(len(x), max_fit_samples, replace=False))]
    reducer = REDUCERS[method](dims, seed, **options)
    fitted = reducer.fit(sample)
    if sample is x:
        points = fitted
    else:
        chunks = [reducer.transform(x[lo : lo + CHUNK]) for lo in range(0, len(x), CHUNK)]
        points = np.concatenate(chunks)
    ids = data.column(ID_COLUMN).to_numpy()
    text = message or f"{method}-{dims}d of {name}"
    with table.edit(text) as e:
        for i, n in enumerate(names):
            e.add_column(n, pa.float32(), "projection")
            e.set_array(n, ids, pa.array(np.ascontiguousarray(points[:, i], np.float32)))
    return e.result


@overload
def reduce_embeddings(target: Table, *args: Any, **kwargs: Any) -> Table: ...


@overload
def reduce_embeddings(target: Run, *args: Any, **kwargs: Any) -> ReductionJob: ...


def reduce_embeddings(target: Table | Run, *args: Any, **kwargs: Any) -> Table | ReductionJob:
    """Reduce the embeddings of a table or a run to 2-D or 3-D.

    For a :class:`~tercet.Table`, a new revision with projection columns
    (:func:`reduce_table_embeddings`: ``method``, ``dims=2``, ``column=``, reducer options);
    for a :class:`~tercet.Run`, projections of its metrics files
    (:func:`tercet.runs.reduce.reduce_embeddings`: ``method``, ``dims=3``, …), as a job.
    """
    if isinstance(target, Table):
        return reduce_table_embeddings(target, *args, **kwargs)
    if isinstance(target, Run):
        return run_reduce.reduce_embeddings(target, *args, **kwargs)
    raise TypeError(f"reduce_embeddings takes a Table or a Run, not {type(target).__name__}.")
