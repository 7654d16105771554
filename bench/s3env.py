"""A throw-away config and a loopback S3 server with one bucket, for the benches that need S3."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def s3_bench(prefix: str) -> Iterator[tuple[Path, Any, str]]:
    """``(temporary folder, running S3Server, bucket URL)``; the server stops on exit."""
    from tercet.testing.s3server import S3Server

    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
        os.environ["TERCET_CONFIG"] = str(Path(tmp) / "config.yaml")
        os.environ.pop("TERCET_ROOT", None)
        server = S3Server(process=True).start()
        try:
            os.environ.update(server.env())
            yield Path(tmp), server, server.create_bucket(prefix)
        finally:
            server.stop()
