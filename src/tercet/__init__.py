"""Tercet: model-guided, interactive dataset debugging.

Record a dataset as a versioned :class:`Table`, training as a :class:`Run` with per-sample metrics,
and look at both side by side in the dashboard (``tercet ui``).
"""

from __future__ import annotations

from tercet import config, errors, share, storage, urls
from tercet.errors import (
    AliasError,
    AliasNotSetError,
    ConfigError,
    CorruptObjectError,
    EditError,
    InvalidNameError,
    ObjectExistsError,
    ObjectNotFoundError,
    RunError,
    SchemaError,
    ShareError,
    StorageError,
    TercetError,
    UnknownExampleError,
)
from tercet.layout import list_projects
from tercet.layout import project_url as project_url
from tercet.runs import (
    BoxCollector,
    ClassificationCollector,
    Collector,
    EmbeddingCollector,
    FunctionCollector,
    Run,
    active_run,
    collect_metrics,
    init,
    list_runs,
    log,
)
from tercet.schema import Column, Schema
from tercet.table import Edit, Table, list_tables
from tercet.urls import aliases
from tercet.writer import TableWriter

__version__ = "0.1.0"

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
    "FunctionCollector",
    "InvalidNameError",
    "ObjectExistsError",
    "ObjectNotFoundError",
    "Run",
    "RunError",
    "Schema",
    "SchemaError",
    "ShareError",
    "StorageError",
    "Table",
    "TableWriter",
    "TercetError",
    "UnknownExampleError",
    "__version__",
    "active_run",
    "aliases",
    "collect_metrics",
    "config",
    "errors",
    "init",
    "list_projects",
    "list_runs",
    "list_tables",
    "log",
    "project_url",
    "share",
    "storage",
    "urls",
]
