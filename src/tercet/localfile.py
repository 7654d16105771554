"""Small mutable files on this machine (the config file, the service token), replaced atomically.

Everything else Tercet writes is an immutable object published through :mod:`tercet.storage`. These
few files are the exception: they are rewritten in place, so a reader must see the old content or
the new one, never half of each. They live below the storage layer, which reads the config.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

TMP_PREFIX = ".tmp-"
"""Hidden temp files: every listing skips names starting with this (a killed writer's leftovers)."""


def tmp_name(path: str) -> str:
    """A hidden, unique temp file name in the folder of ``path``."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}")


def replace_local_file(path: Path | str, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace a small mutable local file with ``data`` (created with ``mode``)."""
    path = str(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = tmp_name(path)
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
