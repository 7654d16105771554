"""The one storage layer: every byte Tercet reads or writes goes through here, on top of fsspec.

- :mod:`~tercet.storage.paths`: the URL grammar (no I/O);
- :mod:`~tercet.storage.options`, :mod:`~tercet.storage.backends`, :mod:`~tercet.storage.s3`:
  which filesystem serves a URL, configured from the config file and the AWS variables;
- :mod:`~tercet.storage.read`: reading objects and listing folders;
- :mod:`~tercet.storage.atomic`: publishing immutable objects (never overwritten, never half
  visible);
- :mod:`~tercet.storage.files`: large files as streams, and removal;
- :mod:`~tercet.storage.fence`: the roots storage may touch while a fence is active (the Object
  Service's): every primitive here checks the resolved URL before any I/O;
- :mod:`~tercet.storage.errors`: the one mapper from backend exceptions to
  :class:`~tercet.errors.StorageError` subclasses that name the URL (missing and existing objects
  are also the builtin ``FileNotFoundError`` / ``FileExistsError``).

S3 settings come from the standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, …)
and the config's ``storage_options: {s3: {...}}`` (s3fs keyword arguments). Requests are retried
by botocore (``adaptive`` mode: exponential backoff plus client-side rate limiting on throttling).
Parquet is read through pyarrow's native S3 client, configured from the same settings (measured
1.5–2.7x faster than the fsspec-wrapped one, docs/storage.md).
"""

from __future__ import annotations

from tercet.localfile import TMP_PREFIX
from tercet.storage.atomic import (
    ParquetStream,
    dictionary_columns,
    open_atomic,
    write_bytes,
    write_json,
    write_parquet,
)
from tercet.storage.backends import arrow_filesystem, filesystem
from tercet.storage.fence import Fence, FencedExecutor, canonical, carry, data_files, fenced, guard
from tercet.storage.paths import (
    basename,
    is_absolute,
    is_local,
    is_under,
    join,
    normalize,
    parent,
    protocol,
    relative_to,
    resolve,
)
from tercet.storage.read import (
    exists,
    file_info,
    ls,
    modified_times,
    read_bytes,
    read_json,
    read_json_many,
    read_many,
    read_parquet,
    read_parquet_metadata,
    relative_parts,
    walk_files,
)

__all__ = [
    "TMP_PREFIX",
    "Fence",
    "FencedExecutor",
    "ParquetStream",
    "arrow_filesystem",
    "basename",
    "canonical",
    "carry",
    "data_files",
    "dictionary_columns",
    "exists",
    "fenced",
    "file_info",
    "filesystem",
    "guard",
    "is_absolute",
    "is_local",
    "is_under",
    "join",
    "ls",
    "modified_times",
    "normalize",
    "open_atomic",
    "parent",
    "protocol",
    "read_bytes",
    "read_json",
    "read_json_many",
    "read_many",
    "read_parquet",
    "read_parquet_metadata",
    "relative_parts",
    "relative_to",
    "resolve",
    "walk_files",
    "write_bytes",
    "write_json",
    "write_parquet",
]
