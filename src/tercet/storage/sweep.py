"""Sweeping what killed writers left behind: hidden temp files, and on S3 unfinished uploads.

A write publishes through a hidden temp file (:func:`tercet.localfile.tmp_name`) or an S3
multipart upload; a writer killed in between leaves it behind. Listings skip both, so they harm
nothing but space. :func:`sweep` removes those older than a minimum age, and never:

- a file younger than that age (a writer may still be at work; its writes keep the time fresh);
- a file whose name says its writer is a process still alive on this machine (the name carries
  the pid and a tag of the machine and boot), however old;
- anything whose name is not one Tercet writes (``.tmp-<12 hex>-…`` or ``.tmp-p<pid>-h<tag>-…``),
  nor anything outside ``root``.

Used by the Object Service's background scan (``service.tmp_sweep_age``) and ``tercet gc``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tercet.localfile import TMP_NAME, tmp_writer, writer_alive
from tercet.storage.backends import filesystem
from tercet.storage.errors import translate
from tercet.storage.paths import is_local, join, normalize, protocol
from tercet.storage.read import info_time

__all__ = ["Leftover", "SweepReport", "sweep"]

Action = Literal["removed", "would remove", "kept: writer alive", "kept: too young"]


@dataclass
class Leftover:
    """One temp file (or unfinished upload) found by a sweep, and what the sweep did."""

    url: str
    size: int
    age: float  # seconds since it was last written
    action: Action


@dataclass
class SweepReport:
    """What one :func:`sweep` found under ``root``."""

    root: str
    older_than: float
    dry_run: bool
    found: list[Leftover] = field(default_factory=list)

    @property
    def removed(self) -> list[Leftover]:
        """The leftovers removed (or that would be, in a dry run)."""
        return [f for f in self.found if f.action in ("removed", "would remove")]

    @property
    def kept(self) -> list[Leftover]:
        """The temp files left in place, with why."""
        return [f for f in self.found if f.action.startswith("kept")]


def _tmp_segment(parts: list[str]) -> str | None:
    """The path segment that makes a file a writer's temp file, if any."""
    return next((p for p in parts if TMP_NAME.match(p)), None)


def _decide(segment: str, age: float, older_than: float, dry_run: bool) -> Action:
    writer = tmp_writer(segment)
    if writer is not None and writer_alive(writer):
        return "kept: writer alive"
    if age < older_than:
        return "kept: too young"
    return "would remove" if dry_run else "removed"


def _local(root: str, older_than: float, dry_run: bool, now: float) -> Iterator[Leftover]:
    for folder, _dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        above = [] if rel == "." else rel.split(os.sep)
        for name in files:
            segment = _tmp_segment([*above, name])
            if segment is None:
                continue
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue  # its writer published or removed it meanwhile
            age = now - st.st_mtime
            action = _decide(segment, age, older_than, dry_run)
            if action == "removed":
                with suppress(FileNotFoundError):
                    os.unlink(path)
            yield Leftover(path, st.st_size, age, action)
        if not dry_run and TMP_NAME.match(os.path.basename(folder)) and folder != root:
            with suppress(OSError):
                os.rmdir(folder)  # a temp folder emptied above


def _remote(root: str, older_than: float, dry_run: bool, now: float) -> Iterator[Leftover]:
    fs, path = filesystem(root)
    base = path.rstrip("/")
    with translate(root, "list"):
        try:
            found = fs.find(base, detail=True)
        except FileNotFoundError:
            found = {}
    for item, info in sorted(found.items()):
        rel = str(item)[len(base) :].lstrip("/")
        segment = _tmp_segment(rel.split("/"))
        if segment is None or info.get("type") == "directory":
            continue
        when = info_time(info)
        age = now - (when if when is not None else now)  # no time: fresh, never removed
        action = _decide(segment, age, older_than, dry_run)
        url = join(root, rel)
        if action == "removed":
            with translate(url, "remove"), suppress(FileNotFoundError):
                fs.rm_file(item)
        yield Leftover(url, int(info.get("size") or 0), age, action)
    if protocol(root) in ("s3", "s3a") and hasattr(fs, "call_s3"):
        yield from _uploads(fs, root, base, older_than, dry_run, now)


def _uploads(
    fs: Any, root: str, base: str, older_than: float, dry_run: bool, now: float
) -> Iterator[Leftover]:
    """Multipart uploads under ``root`` started more than ``older_than`` seconds ago and never
    completed: a killed writer's parts, invisible to listings but stored (and billed)."""
    bucket, prefix, _ = fs.split_path(base)
    prefix = f"{prefix}/" if prefix else ""
    with translate(root, "list"):
        listed = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
    for upload in listed.get("Uploads", []):
        started = upload.get("Initiated")
        age = now - (started.timestamp() if isinstance(started, datetime) else now)
        action: Action = (
            "kept: too young" if age < older_than else "would remove" if dry_run else "removed"
        )
        url = f"{protocol(root)}://{bucket}/{upload['Key']}"
        if action == "removed":
            with translate(url, "abort upload"), suppress(FileNotFoundError):
                fs.call_s3(
                    "abort_multipart_upload",
                    Bucket=bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
        yield Leftover(f"{url} (unfinished upload)", 0, age, action)


def sweep(root: str, older_than: float, dry_run: bool = False) -> SweepReport:
    """Remove the temp files under ``root`` that killed writers left, older than ``older_than``
    seconds (and on S3, unfinished multipart uploads as old); see the module docstring for what
    is never touched. ``dry_run`` only reports."""
    if older_than < 0:
        raise ValueError("older_than must be ≥ 0 seconds.")
    root = normalize(root)
    report = SweepReport(root, older_than, dry_run)
    now = time.time()
    walk = _local if is_local(root) else _remote
    report.found = list(walk(root, older_than, dry_run, now))
    return report
