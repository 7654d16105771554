"""Reading objects and listing folders."""

from __future__ import annotations

import json
import os
import posixpath
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tercet.errors import CorruptObjectError, TercetError
from tercet.localfile import TMP_PREFIX
from tercet.storage import objcache
from tercet.storage.backends import arrow_filesystem, check_bucket, filesystem
from tercet.storage.errors import not_found, parquet_error, translate
from tercet.storage.fence import FencedExecutor, guard, guard_all
from tercet.storage.paths import is_local, join, normalize, protocol


def exists(url: str) -> bool:
    """True when an object (or folder) is at ``url``."""
    guard(url, "check")
    fs, path = filesystem(url)
    with translate(url, "check"):
        found = bool(fs.exists(path))
    if not found:
        check_bucket(url)  # "no object" only where there is a bucket to hold one
    return found


def read_bytes(url: str) -> bytes:
    """The bytes of the object at ``url``; :class:`~tercet.errors.ObjectNotFoundError` when none."""
    guard(url)
    if is_local(url):
        # Builtin open: fsspec's local layer plus the config lookup cost ~20x the read of a small
        # image, which made image datasets 1.7x slower than reading the files directly.
        try:
            with open(normalize(url), "rb") as fh:
                return fh.read()
        except OSError:
            with translate(url, "read"):  # translated like every other backend's errors
                raise
    fs, path = filesystem(url)
    with translate(url, "read"):
        data: bytes = fs.cat_file(path, **_cat_options(url))
        return data


def _cat_options(url: str) -> dict[str, Any]:
    # s3fs sends a HEAD before every GET to decide on a chunked download; one GET is enough
    # for the small objects read whole (JSON descriptors, events, images).
    return {"max_concurrency": 1} if protocol(url) in ("s3", "s3a") else {}


def read_many(urls: Sequence[str], workers: int = 32) -> dict[str, bytes]:
    """A dict from URL to bytes for those of ``urls`` that exist (missing ones are left out),
    fetched concurrently (one GET each on object stores).

    Missing objects are dropped rather than raised because a listing can be older than a
    removal; any other failure raises :class:`~tercet.errors.StorageError` naming its URL.
    """
    out: dict[str, bytes] = {}
    if not urls:
        return out

    def one(url: str) -> tuple[str, bytes | None]:
        try:
            return url, read_bytes(url)  # checked there, in the caller's fence
        except FileNotFoundError:
            return url, None

    with FencedExecutor(max(1, min(workers, len(urls)))) as pool:
        for url, data in pool.map(one, urls):
            if data is not None:
                out[url] = data
    return out


def parse_json(raw: bytes, url: str) -> Any:
    """``raw`` (read from ``url``) as JSON; :class:`CorruptObjectError` naming the line if not."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = f" line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise CorruptObjectError(
            f"{url}:{line} is not valid JSON ({exc}). The object is damaged; restore it from a "
            "copy or remove its folder."
        ) from exc


def read_json(url: str) -> Any:
    """The JSON at ``url``; :class:`~tercet.errors.CorruptObjectError` with the line if damaged."""
    return parse_json(read_bytes(url), url)


def read_json_many(urls: Sequence[str], workers: int = 32) -> dict[str, Any]:
    """Each URL's parsed JSON, the objects read concurrently with :func:`read_many`.

    An object that cannot be read or parsed maps to the :class:`~tercet.errors.TercetError`
    that says why, naming it; the others are unaffected.
    """
    if not urls:
        return {}
    raw: dict[str, bytes | TercetError]
    try:
        raw = dict(read_many(urls, workers=workers))
    except TercetError:
        # One object failed for a reason other than being gone: read each on its own so the
        # failure is reported against that object only.
        raw = dict(_read_each(urls, workers))
    out: dict[str, Any] = {}
    for url in urls:
        data = raw.get(url)
        if data is None:
            out[url] = not_found(url)
        elif isinstance(data, TercetError):
            out[url] = data
        else:
            try:
                out[url] = parse_json(data, url)
            except TercetError as exc:
                out[url] = exc
    return out


def _read_each(urls: Sequence[str], workers: int) -> Iterator[tuple[str, bytes | TercetError]]:
    def one(url: str) -> tuple[str, bytes | TercetError]:
        try:
            return url, read_bytes(url)
        except TercetError as exc:
            return url, exc

    with FencedExecutor(max(1, min(workers, len(urls)))) as pool:
        yield from pool.map(one, urls)


def ls(url: str) -> list[str]:
    """Names of the direct children of a folder (files and folders); hidden temp files skipped."""
    guard(url, "list")
    fs, path = filesystem(url)
    with translate(url, "list"):
        try:
            entries = os.listdir(path) if is_local(url) else fs.ls(path, detail=False, refresh=True)
        except (FileNotFoundError, NotADirectoryError):
            entries = []
    if not entries:
        check_bucket(url)  # an empty listing, not a missing bucket
    names = sorted({posixpath.basename(str(e).rstrip("/")) for e in entries})
    return [n for n in names if n and not n.startswith(TMP_PREFIX)]


def walk_files(url: str, suffix: str | None = None) -> list[str]:
    """Every file below ``url`` (full URLs in the form of ``url``, sorted), skipping hidden temp
    files. On object stores this is one paginated listing, not a walk."""
    url = normalize(url)
    guard(url, "list")
    out: list[str] = []
    if is_local(url):
        for folder, dirs, files in os.walk(url):
            dirs[:] = sorted(d for d in dirs if not d.startswith(TMP_PREFIX))
            for name in files:
                if name.startswith(TMP_PREFIX) or (suffix and not name.endswith(suffix)):
                    continue
                out.append(os.path.join(folder, name))
        return sorted(out)
    fs, path = filesystem(url)
    with translate(url, "list"):
        try:
            found = fs.find(path)
        except FileNotFoundError:
            found = []
    if not found:
        check_bucket(url)
    base = path.rstrip("/")
    for item in found:
        item = str(item)
        rel = item[len(base) :].lstrip("/") if item.startswith(base) else None
        if rel is None:
            continue
        name = posixpath.basename(item)
        if any(p.startswith(TMP_PREFIX) for p in rel.split("/")):
            continue
        if suffix and not name.endswith(suffix):
            continue
        out.append(join(url, rel) if rel else url)
    return sorted(out)


def modified_times(urls: Sequence[str], workers: int = 32) -> dict[str, float | None]:
    """The modification time the storage reports for each of ``urls`` (None when it gives none
    or the object is gone): a ``stat`` on local disk, a ``HEAD`` each, concurrently, elsewhere."""

    def one(url: str) -> tuple[str, float | None]:
        try:
            guard(url, "stat")  # outside the fence: no time, like a missing object
            if is_local(url):
                return url, os.stat(normalize(url)).st_mtime
            fs, path = filesystem(url)
            with translate(url, "stat"):
                return url, info_time(fs.info(path))
        except (FileNotFoundError, TercetError):
            return url, None

    if not urls:
        return {}
    with FencedExecutor(max(1, min(workers, len(urls)))) as pool:
        return dict(pool.map(one, urls))


def info_time(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec ``info`` record (S3 ``LastModified``, local ``mtime``,
    memory ``created``), as seconds since the epoch."""
    for key in ("LastModified", "mtime", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def relative_parts(folder: str, files: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """``(url, path segments below folder)`` for each URL that :func:`walk_files` returned for
    ``folder`` (it returns them under the normalised form of ``folder``)."""
    base = normalize(folder).rstrip("/" + os.sep)
    local = is_local(folder)
    for url in files:
        if not url.startswith(base) or len(url) <= len(base) + 1:
            continue
        rel = url[len(base) + 1 :]
        if local and os.sep != "/":
            rel = rel.replace(os.sep, "/")
        yield url, rel.split("/")


def file_info(url: str) -> dict[str, Any]:
    """Size and modification stamp of a file (used for ETags and change detection)."""
    guard(url, "stat")
    fs, path = filesystem(url)
    with translate(url, "stat"):
        info = fs.info(path)
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    return {"size": int(info.get("size") or 0), "mtime": str(mtime), "type": info.get("type")}


HOLE_SIZE = 2**20
"""Bytes of unwanted data a remote Parquet read fetches to join two wanted ranges into one
request. On object stores a request costs about what 1 MiB of transfer does (tens of ms before
the first byte), and the stores bill per request: a 2-of-6-column read of a 1M-row table goes from
one GET per column chunk to one per row group, for ~5% more bytes."""
RANGE_SIZE = 64 * 2**20
"""Largest joined range of a remote Parquet read (S3's own advice for ranged GETs: 8-64 MiB)."""


def _remote_format() -> Any:
    # Imported here: pyarrow.dataset maps ~1 GiB of address space on load, which every process
    # reading local tables (the service under a memory cap, a CLI) would otherwise pay for.
    import pyarrow.dataset as ds

    return ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            pre_buffer=True,
            # lazy=False: every joined range is requested at once, concurrently on pyarrow's I/O
            # pool, instead of one row group after the other as the reader reaches it.
            cache_options=pa.CacheOptions(
                hole_size_limit=HOLE_SIZE, range_size_limit=RANGE_SIZE, lazy=False
            ),
        )
    )


def _read_parquet_file(
    fs: pafs.FileSystem, path: str, url: str, columns: list[str] | None
) -> pa.Table:
    if is_local(url):
        return _read_local_parquet(fs, path, columns)
    cache = objcache.active()
    if cache is not None:
        return pq.read_table(pa.BufferReader(cache.read(url)), columns=columns)
    # One fragment reads the footer once (a dataset would read it again to scan).
    return _remote_format().make_fragment(path, filesystem=fs).to_table(columns=columns)


def _read_local_parquet(fs: pafs.FileSystem, path: str, columns: list[str] | None) -> pa.Table:
    """A local Parquet file read row group by row group, a few row groups decoded at once.

    ``pq.read_table`` pre-buffers every wanted column chunk of the file and decodes them all at
    once: its peak memory was 2.2-3.2x the Arrow size of what it returned (1M-10M rows x 6
    columns). One row group after the other held one row group's buffers beside the result
    (1.1x at 10M) but decoded on one core: 2.15x pyarrow's wall time at 10M on 2 cores. Here
    one row group per core is decoded at a time (:data:`READ_WINDOW`), each on a reader of its
    own over the same file, and the results are kept in file order: the memory beside the
    result is a row group's buffers per core, the wall time that of the cores together. The row
    groups become the chunks of the columns, as before.
    """
    with fs.open_input_file(path) as fh:
        pf = pq.ParquetFile(fh)
        schema = pf.schema_arrow
        if columns is not None:
            missing = [c for c in columns if schema.get_field_index(c) < 0]
            if missing:
                raise pa.ArrowInvalid(f"No match for FieldRef.Name({missing[0]}) in {schema}")
        groups = _read_row_groups(pf, fh, columns)
    if not groups:
        empty = schema.empty_table()
        return empty if columns is None else empty.select(columns)
    out = pa.concat_tables(groups)
    return out if columns is None or out.column_names == columns else out.select(columns)


READ_WINDOW: int | None = None
"""Row groups of a local Parquet file decoded at once (each on one core); None: one per core
(``pyarrow.cpu_count()``). The memory a read holds beside its result grows with it."""


def _read_row_groups(pf: pq.ParquetFile, fh: Any, columns: list[str] | None) -> list[pa.Table]:
    count = pf.num_row_groups
    window = min(READ_WINDOW or pa.cpu_count(), count)
    pool = pa.default_memory_pool()
    if window <= 1:
        groups = []
        for i in range(count):
            groups.append(pf.read_row_group(i, columns=columns))  # its columns on the cores
            pool.release_unused()
        return groups
    metadata = pf.metadata
    readers = threading.local()

    def decode(i: int) -> pa.Table:
        # A reader per thread: pyarrow's file readers are not documented as safe to share
        # between threads; the footer is parsed once and the file handle's positioned reads are.
        reader = getattr(readers, "reader", None)
        if reader is None:
            reader = readers.reader = pq.ParquetFile(fh, metadata=metadata)
        group: pa.Table = reader.read_row_group(i, columns=columns, use_threads=False)
        # No ``release_unused`` here, unlike one row group after the other: with a row group per
        # core in flight the freed decode buffers are soon reused, and handing them back made the
        # next row groups fault fresh pages in (3M rows: 3.3x the page faults, 2.8x the system
        # CPU time) for a peak 0.04x the Arrow size lower.
        return group

    groups = []
    with FencedExecutor(window) as executor:
        pending: dict[int, Future[pa.Table]] = {}
        for i in range(count):
            # At most ``window`` row groups decoding or decoded and not yet collected.
            for j in range(i + len(pending), min(i + window, count)):
                pending[j] = executor.submit(decode, j)
            groups.append(pending.pop(i).result())
    return groups


def read_parquet(urls: str | list[str], columns: list[str] | None = None) -> pa.Table:
    """Read one or more Parquet files into one Arrow table.

    On object stores the wanted column chunks are joined into few ranged requests (gaps up to
    :data:`HOLE_SIZE`), all issued at once; ``docs/storage.md`` says why. Inside
    :func:`tercet.storage.objcache.using` remote files are read whole through that local cache.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    guard_all(url_list)
    tables = []
    for url in url_list:
        fs, path = arrow_filesystem(url)
        try:
            tables.append(_read_parquet_file(fs, path, url, columns))
        except (OSError, pa.ArrowInvalid) as exc:
            if isinstance(exc, FileNotFoundError):
                check_bucket(url)
            raise parquet_error(url, exc) from exc
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default")


def read_parquet_metadata(url: str) -> pq.FileMetaData:
    """The footer of the Parquet file at ``url`` (one ranged read on object stores)."""
    guard(url)
    fs, path = arrow_filesystem(url)
    try:
        with fs.open_input_file(path) as fh:
            return pq.read_metadata(fh)
    except (OSError, pa.ArrowInvalid) as exc:
        raise parquet_error(url, exc) from exc
