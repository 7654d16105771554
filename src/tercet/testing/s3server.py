"""A real S3-speaking server on loopback: moto's server mode, for tests, benchmarks and demos.

In Python::

    with start_server(bucket="tercet") as server:
        os.environ.update(server.env())       # AWS_ENDPOINT_URL, credentials, region
        ...                                   # s3://tercet/... now works through Tercet

From a shell (``make s3-server``)::

    python -m tercet.testing.s3server --port 9000 --bucket tercet

prints the ``export`` lines to paste into another shell and serves until interrupted. The server
keeps everything in memory and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import subprocess
import sys
import threading
from types import TracebackType
from typing import Any

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
LOOPBACK = "127.0.0.1"


class S3Server:
    """moto's ``ThreadedMotoServer`` on a loopback port, with the settings that reach it.

    Parameters
    ----------
    host
        Address to bind; loopback only (``127.0.0.1`` or ``localhost``).
    port
        TCP port; ``0`` picks a free one (read it back from :attr:`port`).
    process
        Serve from a child process (this module run as a script) instead of a thread, so the
        server does not share the GIL with the code under test. Stopped with the object.
    """

    def __init__(
        self, host: str = LOOPBACK, port: int = 0, quiet: bool = True, process: bool = False
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"The test S3 server listens on loopback only, not {host!r}.")
        self._host = host
        self._requested_port = port
        self._quiet = quiet
        self._process = process
        self._server: Any = None
        self._child: subprocess.Popen[str] | None = None
        self.port = 0

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> S3Server:
        if self._process:
            return self._start_process()
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # pragma: no cover - moto is a dev dependency
            raise RuntimeError(
                "The test S3 server needs moto's server mode: pip install 'moto[server]'."
            ) from exc
        if self._quiet:  # werkzeug logs every request to stderr otherwise
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=self._host, port=self._requested_port, verbose=False)
        server.start()
        self._server = server
        self.port = int(server.get_host_and_port()[1])
        return self

    def _start_process(self) -> S3Server:
        cmd = [sys.executable, "-m", "tercet.testing.s3server", "--host", self._host,
               "--port", str(self._requested_port), "--bucket", "", "--stdin-lifeline"]  # fmt: skip
        # The child exits when its stdin closes, so it never outlives a killed parent.
        child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        first = child.stdout.readline()  # "S3 server (moto) on http://127.0.0.1:PORT …"
        match = re.search(r"http://[^:/]+:(\d+)", first)
        if match is None:
            child.kill()
            child.wait()
            raise RuntimeError(f"The S3 server process did not start: {first!r}")
        self._child = child
        self.port = int(match.group(1))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._child is not None:
            self._child.send_signal(signal.SIGTERM)
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            for pipe in (self._child.stdin, self._child.stdout):
                if pipe is not None:
                    pipe.close()
            self._child = None

    @property
    def running(self) -> bool:
        return self._server is not None or self._child is not None

    def __enter__(self) -> S3Server:
        return self if self.running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- settings ------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point any S3 client (and Tercet) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            # No credentials lookup through the EC2 metadata endpoint (a network probe).
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def storage_options(self) -> dict[str, Any]:
        """The same settings as a ``storage_options: {s3: …}`` config entry."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "client_kwargs": {"region_name": REGION},
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server (for test set-up, never used by Tercet itself)."""
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def create_bucket(self, name: str) -> str:
        """Create ``name`` (no error if it exists) and return ``s3://name``."""
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return f"s3://{name}"

    def delete_bucket(self, name: str) -> None:
        """Remove every object (and unfinished upload) in ``name``, then the bucket."""
        client = self.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys})
        uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
        for up in uploads:
            client.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        client.delete_bucket(Bucket=name)


def start_server(host: str = LOOPBACK, port: int = 0, bucket: str | None = None) -> S3Server:
    """Start a loopback S3 server (and create ``bucket`` when given); stop it with ``.stop()``
    or use it as a context manager."""
    server = S3Server(host, port).start()
    if bucket:
        server.create_bucket(bucket)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tercet.testing.s3server",
        description="Serve an in-memory S3 (moto) on loopback for trying Tercet against S3.",
    )
    parser.add_argument("--host", default=LOOPBACK, help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port; 0 picks a free one")
    parser.add_argument(
        "--bucket", default="tercet", help="bucket to create (default tercet; '' for none)"
    )
    parser.add_argument("--stdin-lifeline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        server = start_server(args.host, args.port, args.bucket)
    except (OSError, ValueError) as exc:
        print(f"error: cannot start the S3 server: {exc}", file=sys.stderr)
        return 1
    lines = [f"export {k}={v}" for k, v in server.env().items()]
    where = f"bucket s3://{args.bucket}" if args.bucket else "no bucket yet"
    if args.bucket:
        lines.append(f"export TERCET_ROOT=s3://{args.bucket}/projects")
    print(f"S3 server (moto) on {server.endpoint_url}, {where}.", flush=True)
    print("Point Tercet at it from another shell:", flush=True)
    print("\n".join(lines), flush=True)
    print("Ctrl-C stops it (everything it holds is lost).", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    if args.stdin_lifeline:

        def watch_stdin() -> None:
            while sys.stdin.read(4096):
                pass
            done.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        done.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
