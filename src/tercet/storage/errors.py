"""The one mapper from backend exceptions (OS, botocore, s3fs, fsspec, pyarrow) to Tercet's
storage errors, each naming the URL and, for S3, what to check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from tercet.errors import (
    CorruptObjectError,
    NoSuchBucketError,
    ObjectExistsError,
    ObjectNotFoundError,
    StorageError,
    StoreUnreachableError,
    TercetError,
)
from tercet.storage.options import options
from tercet.storage.paths import protocol

_BACKEND_MODULES = {"botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec", "urllib3", "gcsfs"}


def not_found(url: str) -> ObjectNotFoundError:
    return ObjectNotFoundError(f"No object at {url}: it does not exist or was removed.")


def bucket_of(url: str) -> str:
    """The bucket an object store URL names (``s3://bucket/key`` -> ``bucket``)."""
    return url.split("://", 1)[-1].split("/", 1)[0]


def endpoint_text() -> str:
    """The S3 endpoint in use, as a user would recognise it."""
    return str(options("s3").get("endpoint_url") or "the AWS default endpoint")


def no_such_bucket(url: str) -> NoSuchBucketError:
    bucket = bucket_of(url)
    return NoSuchBucketError(
        f"The bucket {bucket!r} does not exist at {endpoint_text()} (needed for {url}). Create "
        "it, or point the URL at an existing bucket (the project root is `root` in the config "
        "file or TERCET_ROOT; `tercet config show` says which is in effect)."
    )


def unreachable(url: str, endpoint: str, reason: str, waited: float) -> StoreUnreachableError:
    return StoreUnreachableError(
        f"Cannot reach the S3 endpoint {endpoint} (for {url}): {reason}. Is {endpoint} "
        "reachable, and the right address? Set it with AWS_ENDPOINT_URL or "
        "storage_options.s3.endpoint_url. "
        f"Tercet gave up after one connection attempt ({waited:g} s at most) instead of "
        "retrying; storage_options.s3.config_kwargs.connect_timeout sets that wait (and every "
        "request's), storage_options.s3.config_kwargs.retries.max_attempts how often a request "
        "that fails later is retried."
    )


def _is_missing_bucket(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return "NoSuchBucket" in text or "bucket does not exist" in text


def through_a_file(url: str) -> ObjectNotFoundError:
    return ObjectNotFoundError(f"No object at {url}: a part of its path is a file, not a folder.")


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
        if protocol(url) in ("s3", "s3a") and _is_missing_bucket(exc):
            raise no_such_bucket(url) from exc
        raise not_found(url) from exc
    except FileExistsError as exc:
        raise exists_error(url) from exc
    except IsADirectoryError as exc:
        raise StorageError(f"{url} is a folder, not a file.") from exc
    except NotADirectoryError as exc:
        # ``<file>/object.json``: a path through a file names nothing (on local disk this is
        # ENOTDIR, on object stores simply a missing key); the same answer from both.
        raise through_a_file(url) from exc
    except Exception as exc:
        if not is_backend_error(exc):
            raise
        raise StorageError(f"Cannot {action} {url}: {exc}.{hint(url, exc)}") from exc


def parquet_error(url: str, exc: BaseException) -> StorageError:
    """The storage error for a failed Parquet read (pyarrow reports a missing file in its text)."""
    if isinstance(exc, NotADirectoryError):
        return through_a_file(url)
    if isinstance(exc, FileNotFoundError):
        if protocol(url) in ("s3", "s3a") and _is_missing_bucket(exc):
            return no_such_bucket(url)
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
