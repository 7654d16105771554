"""SHA-256 of files and streams: every byte of a bundle is checked against its manifest."""

from __future__ import annotations

import hashlib
from typing import IO

from tercet.storage import files


def sha256_of(url: str) -> str:
    """Checksum of the file at ``url``, read as a stream."""
    digest = hashlib.sha256()
    with files.open_read(url) as fh:
        while chunk := fh.read(files.CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashingReader:
    """Wraps a binary stream and checksums every byte read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.count += len(data)
        return data

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
