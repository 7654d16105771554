"""YOLO label files and image sizes, read for a whole split at once: the folder listed with
``os.scandir``, each image's label file and header read in one task (by forked processes for a
large local split), and every label line parsed in one numpy/Arrow pass."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet import storage
from tercet.errors import FormatError
from tercet.localfile import TMP_PREFIX
from tercet.storage.fence import guard_all
from tercet.tables.importers.common import (
    IMAGE_SUFFIXES,
    image_size,
    in_chunks,
    preload_image_readers,
    read_if_exists,
)


def local_images(folder: str) -> list[str]:
    """Every image below a local folder, sorted, as ``storage.walk_files`` lists them (hidden
    temp files skipped, symlinked folders not entered) but from ``os.scandir`` entries: no
    per-file path join or stat (a fifth of a 100,000-image import went to the walk)."""
    out: list[str] = []
    folders = [folder]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith(TMP_PREFIX):
                    continue
                if entry.is_dir():
                    if not entry.is_symlink():
                        folders.append(entry.path)
                elif entry.name.lower().endswith(IMAGE_SUFFIXES):
                    out.append(entry.path)
    out.sort()
    return out


def label_url(image: str) -> str:
    """Where Ultralytics looks for an image's labels: the last ``/images/`` becomes ``/labels/``."""
    head, sep, tail = image.rpartition("/images/")
    stem = (head + "/labels/" + tail) if sep else image
    return stem.rsplit(".", 1)[0] + ".txt"


@dataclass
class Objects:
    """Every object of a split: per-object arity, source line and image; all values flat."""

    counts: np.ndarray
    arity: np.ndarray
    lines: np.ndarray
    values: np.ndarray
    starts: np.ndarray


# The bytes ``bytes.split()`` splits on: ASCII whitespace. Token boundaries are found with this
# table on the whole split at once, so they agree exactly with the tokens converted to floats.
_SPACE = np.zeros(256, bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True


def parse_labels(texts: Sequence[bytes | None], images: Sequence[str]) -> Objects:
    """The label files of ``images`` parsed at once: one buffer, token and line boundaries found
    with numpy, one float conversion for every value (no Python loop over lines or tokens).

    Lines end at ``\n``, ``\r\n`` or ``\r``; blank lines are skipped."""
    # Line ends as str.splitlines (which Ultralytics uses) knows them: \r\n and a bare \r too.
    present = [(t.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in t else t) if t else b""
               for t in texts]  # fmt: skip
    if not present:
        empty = np.zeros(0, np.int64)
        return Objects(empty, empty, empty, np.empty(0), empty)
    # Each file is followed by one "\n", so a file's last line never runs into the next file.
    blob = b"\n".join(present) + b"\n"
    data = np.frombuffer(blob, np.uint8)
    space = _SPACE[data]
    first = ~space
    first[1:] &= space[:-1]  # a token starts after whitespace (or at the very start)
    token_at = np.flatnonzero(first)
    newline_at = np.flatnonzero(data == 10)
    # Tokens before each line's end, differenced: tokens per line (one search per line, not
    # per token).
    per_line = np.diff(np.searchsorted(token_at, newline_at), prepend=0)
    lines_per_file = np.fromiter((t.count(b"\n") + 1 for t in present), np.int64, len(present))
    file_of_line = np.repeat(np.arange(len(present)), lines_per_file)
    first_line = np.zeros(len(present), np.int64)
    np.cumsum(lines_per_file[:-1], out=first_line[1:]) if len(present) > 1 else None
    line_no = np.arange(len(newline_at)) - first_line[file_of_line] + 1
    used = per_line > 0
    ar = per_line[used].astype(np.int64)
    counts = np.bincount(file_of_line[used], minlength=len(present)).astype(np.int64)
    starts = np.zeros(len(ar), np.int64)
    np.cumsum(ar[:-1], out=starts[1:]) if len(ar) > 1 else None
    objects = Objects(counts, ar, line_no[used].astype(np.int64), np.empty(0), starts)
    # Each token with the whitespace after it, cut from the buffer by offsets alone: an Arrow
    # string array built without a Python object per token, trimmed and cast to float64 in C++
    # (~20x a per-token parse).
    begin = int(token_at[0]) if len(token_at) else 0
    offsets = np.append(token_at - begin, len(data) - begin).astype(np.int64)
    buffer = pa.py_buffer(data[begin:])
    strings = pa.LargeStringArray.from_buffers(len(token_at), pa.py_buffer(offsets), buffer)
    try:
        trimmed = pc.ascii_rtrim_whitespace(strings)
        objects.values = pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        _not_a_number(objects, blob.split(), images)
    return objects


def _not_a_number(objects: Objects, tokens: list[bytes], images: Sequence[str]) -> NoReturn:
    """Raise for the first token Arrow's cast cannot read as a number, naming its file and line
    (the same cast as the fast path, so both agree on what a number is)."""
    step = 4096
    for base in range(0, len(tokens), step):
        chunk = tokens[base : base + step]
        if _floats(chunk):
            continue
        k = base + next(i for i, tok in enumerate(chunk) if not _floats([tok]))
        obj = int(np.searchsorted(objects.starts, k, side="right")) - 1
        img = int(np.searchsorted(np.cumsum(objects.counts), obj, side="right"))
        text = tokens[k].decode("utf-8", "replace")
        raise FormatError(
            f"{label_url(images[img])}:{objects.lines[obj]}: {text!r} is not a number."
        )
    raise FormatError("YOLO labels: a value is not a number.")  # unreachable: a chunk failed


def _floats(tokens: list[bytes]) -> bool:
    try:
        pc.cast(pa.array(tokens, pa.binary()), pa.float64())
    except pa.ArrowInvalid:
        return False
    return True


def _label_and_size(image: str) -> tuple[bytes | None, tuple[int, int]]:
    return read_if_exists(label_url(image)), image_size(image)


def _read_and_parse(images: Sequence[str], threads: bool = True) -> tuple[Objects, np.ndarray]:
    """The objects of ``images`` and their ``(width, height)`` rows: one task per image reads
    its label file and its header, so the files are passed over once."""
    read = in_chunks(_label_and_size, images) if threads else [_label_and_size(u) for u in images]
    objects = parse_labels([r[0] for r in read], images)
    return objects, np.asarray([r[1] for r in read], np.float64).reshape(-1, 2)


# At this many local images the work is spread over processes: an image costs two file opens
# (~25 µs of system calls) and ~15 µs of Python around them, and threads share one interpreter
# lock for the Python part (measured: 4 threads no faster than 1 on warm files). Below it
# forking costs more than it saves.
PROCESS_MIN = 8192


def read_split(images: Sequence[str]) -> tuple[Objects, np.ndarray]:
    """The objects of a split's images (:func:`parse_labels`) and each image's ``(width,
    height)``. A large local split is read and parsed in chunks by a process per core (forked:
    only the paths go in, arrays come back); remote, small and non-Linux splits on a few
    threads. Errors name the same first bad line either way (chunks are joined in order)."""
    workers = _process_count(images)
    if workers < 2:
        return _read_and_parse(images)
    # The fence (where reads may go) is checked here, in the caller's context, for every file.
    guard_all(images)
    guard_all(label_url(u) for u in images)
    step = -(-len(images) // (workers * 2))  # two chunks a process, so none waits long on another
    chunks = [images[i : i + step] for i in range(0, len(images), step)]
    # What the workers use is imported here, once, not by each forked worker: pyarrow's first
    # compute call imports pandas (~1 s of CPU per process), and imagesize (~0.1 s).
    parse_labels([b"0 .5 .5 .1 .1\n"], ["warm-up.jpg"])
    preload_image_readers()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = list(pool.map(_read_and_parse, chunks, [False] * len(chunks)))
    return _join_objects([o for o, _ in parts]), np.concatenate([sz for _, sz in parts])


def _join_objects(parts: Sequence[Objects]) -> Objects:
    shift = np.cumsum([0] + [len(o.values) for o in parts[:-1]])
    return Objects(
        np.concatenate([o.counts for o in parts]),
        np.concatenate([o.arity for o in parts]),
        np.concatenate([o.lines for o in parts]),
        np.concatenate([o.values for o in parts]),
        np.concatenate([o.starts + k for o, k in zip(parts, shift, strict=True)]),
    )


def _process_count(images: Sequence[str]) -> int:
    if len(images) < PROCESS_MIN or sys.platform != "linux" or not storage.is_local(images[0]):
        return 1  # fork is safe on Linux only (macOS: system frameworks are not fork-safe)
    if not all(storage.is_local(u) for u in images):
        return 1
    return min(len(os.sched_getaffinity(0)), 8)
