"""S3 specifics: pyarrow's native client built from the s3fs settings, and exclusive uploads.

Before the first request to an endpoint, :func:`check_endpoint` opens one TCP connection to it, so
a wrong or dead endpoint is reported at once rather than after every retry (about 30 s); an
empty listing or a missing key asks :func:`check_bucket` whether the bucket itself is missing,
so a missing bucket never reads as an empty root.

An upload (:class:`S3Upload`) is one ``PUT`` below :data:`PART_SIZE`, else a multipart upload that
becomes visible only when it completes (its parts go up :data:`PARTS_IN_FLIGHT` at a time while the
writer goes on); both carry ``If-None-Match: *`` so the store itself refuses
a second writer. Every S3 write is safe to retry.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import socket
import threading
import time
import urllib.request
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from tercet.storage.errors import exists_error, no_such_bucket, translate, unreachable
from tercet.storage.fence import FencedExecutor

PART_SIZE = 16 * 2**20
"""Bytes per part of an S3 multipart upload; smaller objects go up in one PUT."""
PARTS_IN_FLIGHT = 4
"""Parts of one upload sent at once (memory held: about ``(PARTS_IN_FLIGHT + 1) * PART_SIZE``)."""

NO_CONDITIONAL_WRITES: set[str] = set()
"""S3 endpoints that answered ``If-None-Match`` with 501: checked, then written."""

_NATIVE_KEYS = {
    "endpoint_url", "key", "secret", "token", "anon", "use_ssl", "client_kwargs", "config_kwargs",
    "use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache",
    "default_block_size", "default_fill_cache", "default_cache_type", "max_concurrency",
}  # fmt: skip
_native_cache: dict[str, pafs.FileSystem] = {}
_native_lock = threading.Lock()

CONNECT_CHECK_TIMEOUT = 5.0
"""Seconds the first connection to an endpoint may take (less when ``connect_timeout`` is)."""
BUCKET_RECHECK = 60.0
"""Seconds a bucket seen to exist is taken to exist without asking again."""
_reached: set[str] = set()
_buckets: dict[tuple[str, str], float] = {}


def endpoint_of(opts: dict[str, Any]) -> str | None:
    """The endpoint URL the s3fs options name, if any."""
    endpoint = opts.get("endpoint_url") or (opts.get("client_kwargs") or {}).get("endpoint_url")
    return str(endpoint) if endpoint else None


def check_endpoint(opts: dict[str, Any], url: str) -> None:
    """Open one TCP connection to the configured endpoint before its first request in this
    process; :class:`~tercet.errors.StoreUnreachableError` at once when nothing answers.

    Botocore would retry a refused connection with backoff for half a minute before saying
    anything. Once an endpoint has answered, later failures are left to the retries (a blip).
    Skipped without an explicit endpoint (AWS itself) and when a proxy carries the traffic.
    """
    endpoint = endpoint_of(opts)
    if not endpoint or endpoint in _reached:
        return
    parts = urlsplit(endpoint)
    config_kwargs = opts.get("config_kwargs") or {}
    if not parts.hostname or config_kwargs.get("proxies") or _proxied(endpoint):
        _reached.add(endpoint)
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return  # a malformed port: botocore's own error says more
    wait = CONNECT_CHECK_TIMEOUT
    with suppress(TypeError, ValueError):
        wait = min(wait, float(config_kwargs.get("connect_timeout") or wait))
    try:
        socket.create_connection((parts.hostname, port), timeout=wait).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise unreachable(url, endpoint, reason, wait) from exc
    _reached.add(endpoint)


def _proxied(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    scheme = urlsplit(endpoint).scheme or "https"
    return scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)


def check_bucket(fs: Any, path: str, url: str) -> None:
    """:class:`~tercet.errors.NoSuchBucketError` when the bucket of ``path`` does not exist.

    Called when a listing came back empty or an object was missing: that answer is right only
    when the bucket exists. A bucket seen within :data:`BUCKET_RECHECK` seconds is not asked
    about again. Any answer but "no such bucket" (a key without ``s3:ListBucket`` gets 403)
    leaves the listing's answer standing.
    """
    bucket = path.split("/", 1)[0]
    if not bucket or not hasattr(fs, "call_s3"):
        return
    key = (str(getattr(fs, "endpoint_url", None)), bucket)
    if time.monotonic() - _buckets.get(key, -BUCKET_RECHECK) < BUCKET_RECHECK:
        return
    try:
        fs.call_s3("head_bucket", Bucket=bucket)
    except FileNotFoundError as exc:
        raise no_such_bucket(url) from exc
    except Exception:
        return
    _buckets[key] = time.monotonic()


def native_filesystem(opts: dict[str, Any]) -> pafs.FileSystem | None:
    """pyarrow's own S3 client built from the s3fs options, or None when they say something it
    cannot (a profile, extra request arguments, a custom CA bundle …)."""
    client_kwargs = dict(opts.get("client_kwargs") or {})
    config_kwargs = dict(opts.get("config_kwargs") or {})
    if (
        set(opts) - _NATIVE_KEYS
        or set(client_kwargs) - {"region_name", "endpoint_url"}
        or set(config_kwargs) - {"retries", "connect_timeout", "read_timeout"}
    ):
        return None
    kwargs: dict[str, Any] = {}
    endpoint = opts.get("endpoint_url") or client_kwargs.get("endpoint_url")
    if endpoint:
        parts = urlsplit(str(endpoint))
        if not parts.netloc or parts.path.strip("/"):
            return None
        kwargs["endpoint_override"] = parts.netloc
        kwargs["scheme"] = parts.scheme or "https"
    elif opts.get("use_ssl") is False:
        kwargs["scheme"] = "http"
    region = (
        client_kwargs.get("region_name")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    if region:
        kwargs["region"] = str(region)
    if opts.get("anon"):
        kwargs["anonymous"] = True
    elif opts.get("key") or opts.get("secret"):
        kwargs["access_key"] = opts.get("key")
        kwargs["secret_key"] = opts.get("secret")
        if opts.get("token"):
            kwargs["session_token"] = opts["token"]
    if config_kwargs.get("connect_timeout") is not None:
        kwargs["connect_timeout"] = float(config_kwargs["connect_timeout"])
    if config_kwargs.get("read_timeout") is not None:
        kwargs["request_timeout"] = float(config_kwargs["read_timeout"])
    attempts = int((config_kwargs.get("retries") or {}).get("max_attempts", 3))
    cache_key = json.dumps({**kwargs, "attempts": attempts}, sort_keys=True, default=str)
    with _native_lock:
        fs = _native_cache.get(cache_key)
        if fs is None:
            strategy = pafs.AwsStandardS3RetryStrategy(max_attempts=attempts)
            fs = pafs.S3FileSystem(retry_strategy=strategy, **kwargs)
            _native_cache[cache_key] = fs
    return fs


class S3Upload(io.RawIOBase):
    """A write-only stream to one S3 object that appears only on :meth:`commit`.

    Up to :data:`PART_SIZE` bytes are held in memory; a larger object becomes a multipart upload
    whose parts go up as they fill. Commit is a conditional request (``If-None-Match: *``) unless
    overwriting: when it fails because the key exists, the object is compared with what this
    upload sent (its ETag), so a retried request whose first attempt landed is still a success.
    """

    def __init__(self, fs: Any, path: str, url: str, overwrite: bool) -> None:
        super().__init__()
        self._fs, self._path, self._url, self._overwrite = fs, path, url, overwrite
        self._bucket, self._key, _ = fs.split_path(path)
        self._buf = bytearray()
        self._pos = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._digests: list[bytes] = []
        self._pool: FencedExecutor | None = None
        self._pending: list[Future[dict[str, Any]]] = []

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buf += view
        self._pos += view.nbytes
        while len(self._buf) >= PART_SIZE:
            self._upload_part(bytes(self._buf[:PART_SIZE]))
            del self._buf[:PART_SIZE]
        return view.nbytes

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._fs.call_s3(method, Bucket=self._bucket, Key=self._key, **kwargs)

    def _upload_part(self, data: bytes) -> None:
        """Start sending one part; up to :data:`PARTS_IN_FLIGHT` go up at once while the caller
        goes on writing (encoding the next row groups overlaps the upload)."""
        with translate(self._url, "write"):
            if self._upload_id is None:
                # A big upload checks first, so it does not send gigabytes only to be refused.
                if not self._overwrite and self._fs.exists(self._path):
                    raise exists_error(self._url)
                self._upload_id = self._call("create_multipart_upload")["UploadId"]
                self._pool = FencedExecutor(PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        while len([f for f in self._pending if not f.done()]) >= PARTS_IN_FLIGHT:
            wait(self._pending, return_when=FIRST_COMPLETED)  # bounds the memory held
        for done in [f for f in self._pending if f.done()]:
            done.result()  # a failed part fails the write now, not at commit
        number = len(self._digests) + 1
        self._digests.append(hashlib.md5(data, usedforsecurity=False).digest())
        assert self._pool is not None
        self._pending.append(self._pool.submit(self._send_part, self._upload_id, number, data))

    def _send_part(self, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        with translate(self._url, "write"):
            out = self._call("upload_part", UploadId=upload_id, PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": out["ETag"]}

    def _finish_parts(self) -> None:
        """Wait for every part; their list in order for the completing request."""
        pending, self._pending = self._pending, []
        self._parts = [f.result() for f in pending]

    def commit(self) -> None:
        try:
            with translate(self._url, "write"):
                if self._upload_id is None:
                    data = bytes(self._buf)
                    expected = hashlib.md5(data, usedforsecurity=False).hexdigest()
                    self._publish("put_object", expected, Body=data)
                else:
                    if self._buf or not self._digests:
                        self._upload_part(bytes(self._buf))
                    self._finish_parts()
                    joined = hashlib.md5(b"".join(self._digests), usedforsecurity=False)
                    self._publish(
                        "complete_multipart_upload",
                        f"{joined.hexdigest()}-{len(self._parts)}",
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
        except BaseException:
            self.abort()
            raise
        finally:
            self._buf = bytearray()
            self._fs.invalidate_cache(self._path)
            self._shutdown()
        self._upload_id = None

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _publish(self, method: str, expected: str, **kwargs: Any) -> None:
        """The request that makes the object visible, conditional unless overwriting."""
        endpoint = str(getattr(self._fs, "endpoint_url", None))
        if not self._overwrite and endpoint not in NO_CONDITIONAL_WRITES:
            try:
                self._call(method, IfNoneMatch="*", **kwargs)
                return
            except FileExistsError:
                if self._stored_etag() != expected:
                    raise
                return  # a retried request whose first attempt landed: this upload's object
            except OSError as exc:
                if exc.errno != errno.ENOSYS and "NotImplemented" not in str(exc):
                    raise
                # An S3-compatible store without conditional writes: check, then write.
                NO_CONDITIONAL_WRITES.add(endpoint)
        if not self._overwrite and self._fs.exists(self._path):
            raise exists_error(self._url)
        self._call(method, **kwargs)

    def _stored_etag(self) -> str | None:
        try:
            info = self._fs.info(self._path)
        except Exception:
            return None
        return str(info.get("ETag") or "").strip('"') or None

    def abort(self) -> None:
        """Drop the upload; nothing becomes visible. Best effort: the store may be down."""
        upload_id, self._upload_id = self._upload_id, None
        self._buf = bytearray()
        self._pending = []
        self._shutdown()  # parts still in flight land before the abort, which then drops them
        if upload_id is not None:
            # An unfinished upload is invisible anyway; a lifecycle rule reclaims its parts.
            with suppress(Exception):
                self._call("abort_multipart_upload", UploadId=upload_id)
