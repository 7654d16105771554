"""Which filesystem serves a URL: fsspec's for every store, pyarrow's native ones where faster."""

from __future__ import annotations

import fsspec
import fsspec.core
import pyarrow.fs as pafs

from tercet.dependencies import install_hint
from tercet.errors import StorageError
from tercet.storage import s3
from tercet.storage.fence import guard
from tercet.storage.options import options
from tercet.storage.paths import is_local, normalize, protocol


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and in-filesystem path for ``url`` (checked against the active
    fence: the handle reaches only what ``url`` names)."""
    url = normalize(url)
    guard(url, "open")
    proto = protocol(url)
    try:
        fs = fsspec.filesystem(proto, **options(proto))
    except ImportError as exc:
        hint = f" Install it with {install_hint('s3fs')}." if proto in ("s3", "s3a") else ""
        raise StorageError(f"Storage for {proto}:// URLs is not installed: {exc}.{hint}") from exc
    except (ValueError, TypeError) as exc:
        raise StorageError(
            f"No storage backend for {url!r}: {exc}. Check storage_options.{proto} in the config "
            "file (`tercet config show`)."
        ) from exc
    path = url if proto == "file" else fsspec.core.strip_protocol(url)
    if proto in ("s3", "s3a"):
        s3.check_endpoint(options(proto), url)
    return fs, path


def check_bucket(url: str) -> None:
    """:class:`~tercet.errors.NoSuchBucketError` when ``url`` lies in a bucket that does not
    exist; nothing for other stores. For answers that are right only in an existing bucket: an
    empty listing, a missing object."""
    if protocol(url) not in ("s3", "s3a"):
        return
    fs, path = filesystem(url)
    s3.check_bucket(fs, path, url)


def arrow_filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for ``url``: native for local disk and S3, fsspec-backed otherwise.

    The native S3 client gets the same endpoint, credentials, region, timeouts and retry count as
    :func:`filesystem`; options it cannot express make this fall back to the fsspec one.
    """
    url = normalize(url)
    guard(url, "open")
    if is_local(url):
        return pafs.LocalFileSystem(), url
    fs, path = filesystem(url)
    if protocol(url) in ("s3", "s3a"):
        native = s3.native_filesystem(options("s3"))
        if native is not None:
            return native, path
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path
