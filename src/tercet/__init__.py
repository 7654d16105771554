"""Tercet: model-guided, interactive dataset debugging.

Record a dataset as a versioned :class:`Table`, training as a :class:`Run` with per-sample metrics,
and look at both side by side in the dashboard (``tercet ui``).
"""

from __future__ import annotations

from tercet import config, errors, storage, urls
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
from tercet.schema import Column, Schema
from tercet.table import Edit, Table, list_tables
from tercet.urls import aliases
from tercet.writer import TableWriter

__version__ = "0.1.0"

__all__ = [
    "AliasError",
    "AliasNotSetError",
    "Column",
    "ConfigError",
    "CorruptObjectError",
    "Edit",
    "EditError",
    "InvalidNameError",
    "ObjectExistsError",
    "ObjectNotFoundError",
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
    "aliases",
    "config",
    "errors",
    "list_projects",
    "list_tables",
    "project_url",
    "storage",
    "urls",
]
