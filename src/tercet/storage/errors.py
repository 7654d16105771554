"""The one mapper from backend exceptions (OS, botocore, s3fs, fsspec, pyarrow) to Tercet's
storage errors, each naming the URL and, for S3, what to check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from tercet.errors import (
    CorruptObjectError,
    ObjectExistsError,
    ObjectNotFoundError,
    StorageError,
    TercetError,
)
from tercet.storage.options import options
from tercet.storage.paths import protocol

_BACKEND_MODULES = {"botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec", "urllib3", "gcsfs"}


def not_found(url: str) -> ObjectNotFoundError:
    return ObjectNotFoundError(f"No object at {url}: it does not exist or was removed.")


def exists_error(url: str) -> ObjectExistsError:
    return ObjectExistsError(
        f"An object already exists at {url}; objects are immutable and never overwritten."
    )


def is_backend_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return True
    return any(cls.__module__.split(".")[0] in _BACKEND_MODULES for cls in type(exc).__mro__)


def hint(url: str, exc: BaseException) -> str:
    """What to check when an S3 request failed (empty for other stores)."""
    if protocol(url) not in ("s3", "s3a"):
        return ""
    text = f"{type(exc).__name__} {exc}"
    if any(s in text for s in ("NoCredentials", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                               "AccessDenied", "Forbidden", "ExpiredToken")):  # fmt: skip
        return (
            " Check the S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "
            "storage_options.s3.key/secret in the config file."
        )
    if any(s in text for s in ("EndpointConnection", "Connect", "Timeout", "timed out",
                               "Connection", "Unreachable")):  # fmt: skip
        endpoint = options("s3").get("endpoint_url") or "the AWS default endpoint"
        return (
            f" Is the S3 endpoint {endpoint} reachable? Set it with AWS_ENDPOINT_URL or "
            "storage_options.s3.endpoint_url."
        )
    if any(s in text for s in ("SlowDown", "Throttl", "503", "reduce your request rate")):
        return (
            " The store kept throttling after every retry; try again later or with fewer writers."
        )
    return ""


@contextmanager
def translate(url: str, action: str) -> Iterator[None]:
    """Turn backend exceptions raised in the block into Tercet's storage errors naming ``url``."""
    try:
        yield
    except TercetError:
        raise
    except FileNotFoundError as exc:
        raise not_found(url) from exc
    except FileExistsError as exc:
        raise exists_error(url) from exc
    except IsADirectoryError as exc:
        raise StorageError(f"{url} is a folder, not a file.") from exc
    except Exception as exc:
        if not is_backend_error(exc):
            raise
        raise StorageError(f"Cannot {action} {url}: {exc}.{hint(url, exc)}") from exc


def parquet_error(url: str, exc: BaseException) -> StorageError:
    """The storage error for a failed Parquet read (pyarrow reports a missing file in its text)."""
    if isinstance(exc, FileNotFoundError):
        return not_found(url)
    if isinstance(exc, pa.ArrowInvalid):
        return CorruptObjectError(
            f"{url} is not a readable Parquet file ({exc}). It may be truncated; restore it "
            "or remove the object that holds it."
        )
    text = str(exc).lower()
    if "not found" in text or "no such file" in text or "does not exist" in text:
        return not_found(url)
    return StorageError(f"Cannot read {url}: {exc}.{hint(url, exc)}")
