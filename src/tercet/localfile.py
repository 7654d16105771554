"""Small mutable files on this machine (the config file, the service token), replaced atomically.

Everything else Tercet writes is an immutable object published through :mod:`tercet.storage`. These
few files are the exception: they are rewritten in place, so a reader must see the old content or
the new one, never half of each. They live below the storage layer, which reads the config.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import uuid
from pathlib import Path
from typing import NamedTuple

TMP_PREFIX = ".tmp-"
"""Hidden temp files: every listing skips names starting with this (a killed writer's leftovers)."""

TMP_NAME = re.compile(
    r"^\.tmp-(?:p(?P<pid>[0-9]{1,10})-h(?P<host>[0-9a-f]{8})-)?[0-9a-f]{12}-(?P<name>.+)$"
)
"""The temp names Tercet writes: ``.tmp-p<pid>-h<host>-<12 hex>-<name>`` (the writer's process id
and a tag of its machine and boot, so a sweep can tell a live writer), and before 0.3
``.tmp-<12 hex>-<name>``."""


@functools.cache
def host_tag() -> str:
    """8 hex digits naming this machine and this boot (a pid means nothing on another host, or
    after a reboot)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
    except OSError:
        boot = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{boot}".encode()).hexdigest()[:8]


def tmp_name(path: str) -> str:
    """A hidden, unique temp file name in the folder of ``path``, naming its writer."""
    folder, name = os.path.split(path)
    writer = f"p{os.getpid()}-h{host_tag()}"
    return os.path.join(folder, f"{TMP_PREFIX}{writer}-{uuid.uuid4().hex[:12]}-{name}")


class TmpWriter(NamedTuple):
    """Who wrote a temp file, as its name says (``pid`` None for names without one)."""

    pid: int | None
    host: str | None


def tmp_writer(name: str) -> TmpWriter | None:
    """The writer of the temp file called ``name``; None when it is not a name Tercet writes."""
    match = TMP_NAME.match(name)
    if match is None:
        return None
    pid = match.group("pid")
    return TmpWriter(int(pid) if pid else None, match.group("host"))


def writer_alive(writer: TmpWriter) -> bool:
    """True when ``writer`` is a process running now on this machine (since this boot)."""
    if writer.pid is None or writer.host != host_tag():
        return False
    try:
        os.kill(writer.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


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
