"""The one storage layer: every byte Tercet reads or writes goes through here, on top of fsspec.

Objects are immutable. :func:`write_bytes` and :func:`write_parquet` publish an object atomically
and refuse to overwrite: on local disk the data goes to a hidden temp file in the same folder and is
hard-linked into place (``link`` fails if the name exists, so two writers cannot clobber each
other);
on object stores it is a single PUT (or a multipart upload that becomes visible only on completion).
A killed writer leaves at most a hidden ``.tmp-*`` file, which listings skip.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tercet.errors import CorruptObjectError, ObjectExistsError, ObjectNotFoundError, StorageError

TMP_PREFIX = ".tmp-"


def protocol(url: str) -> str:
    """``"file"`` for local paths, else the scheme (``s3``, ``memory``, …)."""
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].lower()


def is_local(url: str) -> bool:
    return protocol(url) == "file"


def normalize(url: str) -> str:
    """Canonical form: absolute local paths without ``file://``; remote URLs without trailing /."""
    if url.startswith("file://"):
        url = url[len("file://") :]
    if is_local(url):
        return os.path.abspath(os.path.expanduser(url))
    scheme, rest = url.split("://", 1)
    rest = posixpath.normpath(rest) if rest else rest
    return f"{scheme.lower()}://{rest.rstrip('/')}"


def join(url: str, *parts: str) -> str:
    if is_local(url):
        return os.path.join(url, *parts)
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def parent(url: str) -> str:
    if is_local(url):
        return os.path.dirname(url.rstrip("/")) or "/"
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{posixpath.dirname(rest.rstrip('/'))}"


def basename(url: str) -> str:
    return posixpath.basename(url.rstrip("/"))


def _options(proto: str) -> dict[str, Any]:
    from tercet import config

    try:
        opts = dict(config.current().storage_options.get(proto, {}))
    except Exception:  # a broken config must not hide the storage error behind it
        opts = {}
    if proto == "s3":
        # s3fs does not read AWS_ENDPOINT_URL itself in every version; honour the standard variable.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint and "endpoint_url" not in opts:
            opts["endpoint_url"] = endpoint
        opts.setdefault("config_kwargs", {"retries": {"max_attempts": 8, "mode": "adaptive"}})
    return opts


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and in-filesystem path for ``url``."""
    url = normalize(url)
    proto = protocol(url)
    try:
        fs = fsspec.filesystem(proto, **_options(proto))
    except ImportError as exc:
        extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}.get(proto)
        hint = f" Install it with `pip install 'tercet[{extra}]'`." if extra == "s3" else ""
        raise StorageError(f"Storage for {proto}:// URLs is not installed: {exc}.{hint}") from exc
    except ValueError as exc:
        raise StorageError(f"No storage backend for {url!r}: {exc}") from exc
    path = url if proto == "file" else fs._strip_protocol(url)
    return fs, path


def arrow_filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for ``url`` (native for local disk, fsspec-backed otherwise)."""
    url = normalize(url)
    if is_local(url):
        return pafs.LocalFileSystem(), url
    fs, path = filesystem(url)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _not_found(url: str, exc: BaseException | None = None) -> ObjectNotFoundError:
    return ObjectNotFoundError(f"No object at {url}: it does not exist or was removed.")


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    try:
        return bool(fs.exists(path))
    except OSError as exc:
        raise StorageError(f"Cannot check {url}: {exc}") from exc


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    try:
        data: bytes = fs.cat_file(path)
        return data
    except FileNotFoundError as exc:
        raise _not_found(url, exc) from exc
    except IsADirectoryError as exc:
        raise StorageError(f"{url} is a folder, not a file.") from exc
    except OSError as exc:
        raise StorageError(f"Cannot read {url}: {exc}") from exc


def _tmp_name(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}")


def _publish_local(tmp: str, final: str, overwrite: bool) -> None:
    try:
        if overwrite:
            os.replace(tmp, final)
            return
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise ObjectExistsError(
                f"An object already exists at {final}; objects are immutable and never overwritten."
            ) from None
        except OSError:
            # Filesystems without hard links: fall back to an exclusive-create check + rename.
            if os.path.exists(final):
                raise ObjectExistsError(f"An object already exists at {final}.") from None
            os.rename(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def open_atomic(url: str, overwrite: bool = False) -> Iterator[Any]:
    """A writable binary file that becomes visible at ``url`` only when the block exits cleanly."""
    url = normalize(url)
    if is_local(url):
        os.makedirs(os.path.dirname(url), exist_ok=True)
        if not overwrite and os.path.exists(url):
            raise ObjectExistsError(
                f"An object already exists at {url}; objects are immutable and never overwritten."
            )
        tmp = _tmp_name(url)
        try:
            with open(tmp, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _publish_local(tmp, url, overwrite)
        return
    fs, path = filesystem(url)
    if not overwrite and fs.exists(path):
        raise ObjectExistsError(
            f"An object already exists at {url}; objects are never overwritten."
        )
    # Buffer, then one PUT: an object store never shows a partial object.
    buf = io.BytesIO()
    yield buf
    try:
        fs.pipe_file(path, buf.getvalue())
    except OSError as exc:
        raise StorageError(f"Cannot write {url}: {exc}") from exc


@contextmanager
def _local_atomic_path(url: str) -> Iterator[str]:
    """A temp path next to ``url`` that is published there when the block exits cleanly.

    Handing pyarrow a path (not a Python file object) keeps its native, GIL-free writer."""
    os.makedirs(os.path.dirname(url), exist_ok=True)
    if os.path.exists(url):
        raise ObjectExistsError(
            f"An object already exists at {url}; objects are immutable and never overwritten."
        )
    tmp = _tmp_name(url)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _publish_local(tmp, url, overwrite=False)


def write_bytes(url: str, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to ``url`` atomically; refuse to overwrite unless asked."""
    with open_atomic(url, overwrite=overwrite) as fh:
        fh.write(data)


def replace_local_file(path: Path | str, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace a small mutable local file (the config file, the token)."""
    path = str(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = _tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(url: str) -> Any:
    raw = read_bytes(url)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = f" line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise CorruptObjectError(
            f"{url}:{line} is not valid JSON ({exc}). The object is damaged; restore it from a "
            "copy or remove its folder."
        ) from exc


def write_json(url: str, obj: Any, overwrite: bool = False) -> None:
    data = json.dumps(obj, indent=1, sort_keys=False, default=str).encode("utf-8")
    write_bytes(url, data, overwrite=overwrite)


def ls(url: str) -> list[str]:
    """Names of the direct children of a folder (files and folders); hidden temp files skipped."""
    fs, path = filesystem(url)
    try:
        entries = fs.ls(path, detail=False, refresh=True) if not is_local(url) else os.listdir(path)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    except OSError as exc:
        raise StorageError(f"Cannot list {url}: {exc}") from exc
    names = sorted({posixpath.basename(str(e).rstrip("/")) for e in entries})
    return [n for n in names if n and not n.startswith(TMP_PREFIX)]


def walk_files(url: str, suffix: str | None = None) -> list[str]:
    """Every file below ``url`` (full URLs, sorted), skipping hidden temp files."""
    url = normalize(url)
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
    try:
        found = fs.find(path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"Cannot list {url}: {exc}") from exc
    scheme = protocol(url)
    for item in found:
        name = posixpath.basename(item)
        if name.startswith(TMP_PREFIX) or (suffix and not name.endswith(suffix)):
            continue
        out.append(f"{scheme}://{item}")
    return sorted(out)


def file_info(url: str) -> dict[str, Any]:
    """Size and modification stamp of a file (used for ETags and change detection)."""
    fs, path = filesystem(url)
    try:
        info = fs.info(path)
    except FileNotFoundError as exc:
        raise _not_found(url, exc) from exc
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    return {"size": int(info.get("size") or 0), "mtime": str(mtime), "type": info.get("type")}


def read_parquet(urls: str | list[str], columns: list[str] | None = None) -> pa.Table:
    """Read one or more Parquet files into one Arrow table."""
    url_list = [urls] if isinstance(urls, str) else list(urls)
    tables = []
    for url in url_list:
        fs, path = arrow_filesystem(url)
        try:
            tables.append(pq.read_table(path, filesystem=fs, columns=columns))
        except FileNotFoundError as exc:
            raise _not_found(url, exc) from exc
        except pa.ArrowInvalid as exc:
            raise CorruptObjectError(
                f"{url} is not a readable Parquet file ({exc}). It may be truncated; restore it "
                "or remove the object that holds it."
            ) from exc
        except OSError as exc:
            if "not found" in str(exc).lower() or "no such file" in str(exc).lower():
                raise _not_found(url, exc) from exc
            raise StorageError(f"Cannot read {url}: {exc}") from exc
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default")


def read_parquet_metadata(url: str) -> pq.FileMetaData:
    fs, path = arrow_filesystem(url)
    try:
        with fs.open_input_file(path) as fh:
            return pq.read_metadata(fh)
    except FileNotFoundError as exc:
        raise _not_found(url, exc) from exc
    except pa.ArrowInvalid as exc:
        raise CorruptObjectError(f"{url} is not a readable Parquet file ({exc}).") from exc


def write_parquet(url: str, table: pa.Table, **options: Any) -> None:
    """Write an Arrow table as one immutable Parquet file."""
    options.setdefault("compression", "zstd")
    url = normalize(url)
    if is_local(url):
        with _local_atomic_path(url) as tmp:
            pq.write_table(table, tmp, **options)
        return
    with open_atomic(url) as fh:
        pq.write_table(table, fh, **options)


class ParquetStream:
    """Writes record batches into one Parquet file that appears only on :meth:`close`."""

    def __init__(
        self, url: str, schema: pa.Schema, row_group_size: int | None = None, **options: Any
    ) -> None:
        options.setdefault("compression", "zstd")
        self._row_group_size = row_group_size
        self.url = normalize(url)
        self._cm: Any = (
            _local_atomic_path(self.url) if is_local(self.url) else open_atomic(self.url)
        )
        self._fh = self._cm.__enter__()
        self._writer = pq.ParquetWriter(self._fh, schema, **options)
        self.rows = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.RecordBatch):
            self._writer.write_batch(batch, row_group_size=self._row_group_size)
        else:
            self._writer.write_table(batch, row_group_size=self._row_group_size)
        self.rows += batch.num_rows

    def close(self) -> None:
        self._writer.close()
        self._cm.__exit__(None, None, None)

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            with contextlib.suppress(RuntimeError):
                self._cm.__exit__(RuntimeError, RuntimeError("aborted"), None)
