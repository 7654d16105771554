"""Tercet: model-guided, interactive dataset debugging.

Record a dataset as a versioned :class:`Table`, training as a :class:`Run` with per-sample metrics,
and look at both side by side in the dashboard (``tercet ui``).
"""

from __future__ import annotations

# Submodules bound as attributes (``tercet.storage.join``), but not part of ``__all__``.
from tercet import aliases as aliases
from tercet import config as config
from tercet import errors as errors
from tercet import format as format
from tercet import insights as insights
from tercet import layout as layout
from tercet import share as share
from tercet import storage as storage
from tercet import urls as urls
from tercet._version import __version__
from tercet.errors import (
    AliasError,
    AliasNotSetError,
    ConfigError,
    CorruptObjectError,
    EditError,
    ExportError,
    FormatError,
    InsightsError,
    InvalidNameError,
    NoSuchBucketError,
    ObjectExistsError,
    ObjectNotFoundError,
    OutsideRootsError,
    RunError,
    SchemaError,
    ShareError,
    StorageError,
    StoreUnreachableError,
    TercetError,
    UnknownExampleError,
)
from tercet.layout import list_projects, project_url
from tercet.runs import (
    BoxCollector,
    ClassificationCollector,
    Collector,
    EmbeddingCollector,
    FunctionCollector,
    MaskCollector,
    MetricSpec,
    Run,
    active_run,
    collect_metrics,
    init,
    list_runs,
    log,
    reduce_embeddings,
)
from tercet.schema import Column, Schema
from tercet.tables import Edit, Table, TableWriter, list_tables

__all__ = [
    "AliasError",
    "AliasNotSetError",
    "BoxCollector",
    "ClassificationCollector",
    "Collector",
    "Column",
    "ConfigError",
    "CorruptObjectError",
    "Edit",
    "EditError",
    "EmbeddingCollector",
    "ExportError",
    "FormatError",
    "FunctionCollector",
    "InsightsError",
    "InvalidNameError",
    "MaskCollector",
    "MetricSpec",
    "NoSuchBucketError",
    "ObjectExistsError",
    "ObjectNotFoundError",
    "OutsideRootsError",
    "Run",
    "RunError",
    "Schema",
    "SchemaError",
    "ShareError",
    "StorageError",
    "StoreUnreachableError",
    "Table",
    "TableWriter",
    "TercetError",
    "UnknownExampleError",
    "__version__",
    "active_run",
    "collect_metrics",
    "init",
    "list_projects",
    "list_runs",
    "list_tables",
    "log",
    "project_url",
    "reduce_embeddings",
]
