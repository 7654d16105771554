"""Image quality, and the hashes duplicates need, from one streamed pass over the image files.

Each image is read once through :mod:`tercet.storage` (aliases expanded, relative URLs resolved
against the table, the fence's file roots checked when a fence is active), on a bounded pool of
threads that carries the caller's fence (:class:`tercet.storage.FencedExecutor`); at most
``4 × workers`` images are in flight, so memory stays flat however many there are.

The checks are cleanvision's, each a ``<check>_score`` in [0, 1] (higher = worse) and a flag:

=================  ==============================================================  ===========
check              score                                                            flagged at
=================  ==============================================================  ===========
blurry             ``m / (s + m)``: s the std of the Laplacian over the std of the    > 0.7
                   brightness, m its median
dark               1 − the 99th percentile of brightness                            > 0.75
bright             the 5th percentile of brightness                                 > 0.85
low_information    1 − grey-level entropy / 8 bits                                  > 0.8
near_constant      1 − min(1, 20 × std of brightness)                               > 0.8
odd_size           min(1, \\|log10(area / median area)\\|)                            > 0.7
odd_aspect_ratio   1 − exp(−\\|log(aspect / median aspect)\\|)                        > 0.5
=================  ==============================================================  ===========

Blur, size and aspect are judged against the data set's own median, so a set of small or wide
images is not flagged as a whole.
"""

from __future__ import annotations

import hashlib
import io
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tercet import storage
from tercet.dependencies import require
from tercet.errors import InsightsError, StorageError

CHECKS = (
    "blurry",
    "dark",
    "bright",
    "low_information",
    "near_constant",
    "odd_size",
    "odd_aspect_ratio",
)
THRESHOLDS = {
    "blurry": 0.7,
    "dark": 0.75,
    "bright": 0.85,
    "low_information": 0.8,
    "near_constant": 0.8,
    "odd_size": 0.7,
    "odd_aspect_ratio": 0.5,
}
MAX_SIDE = 256  # statistics are taken on the image scaled down to this
DEFAULT_WORKERS = 8


@dataclass
class ImageStats:
    """Per-image measurements, one entry per row (NaN / 0 where the row has no image)."""

    width: np.ndarray
    height: np.ndarray
    dark_p99: np.ndarray
    bright_p5: np.ndarray
    sharpness: np.ndarray
    entropy: np.ndarray
    std: np.ndarray
    content_hash: np.ndarray  # int64 of the first 8 bytes of a BLAKE2b digest of the file
    phash: np.ndarray  # int64 view of the 64-bit perceptual hash

    def floats(self) -> tuple[np.ndarray, ...]:
        return (self.width, self.height, self.dark_p99, self.bright_p5, self.sharpness,
                self.entropy, self.std)  # fmt: skip

    @classmethod
    def empty(cls, n: int) -> ImageStats:
        def nan() -> np.ndarray:
            return np.full(n, np.nan)

        return cls(nan(), nan(), nan(), nan(), nan(), nan(), nan(),
                   np.zeros(n, np.int64), np.zeros(n, np.int64))  # fmt: skip


class Measured(NamedTuple):
    stats: tuple[float, float, float, float, float, float, float]  # as ImageStats orders them
    content_hash: int
    phash: int


def measure(data: bytes) -> Measured:
    """The statistics of one encoded image (width, height, p99, p5, sharpness, entropy, std) and
    its content and perceptual hashes."""
    from PIL import Image

    imagehash = require("imagehash", "Perceptual hashes", InsightsError)
    digest = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)
    with Image.open(io.BytesIO(data)) as opened:
        width, height = opened.size
        opened.draft("L", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a reduced scale
        grey = opened.convert("L")
    grey.thumbnail((MAX_SIDE, MAX_SIDE))
    phash = int(str(imagehash.phash(grey)), 16)
    g = np.asarray(grey, dtype=np.float32) / 255.0
    p5, p99 = np.percentile(g, [5, 99])
    hist = np.bincount((g * 255).astype(np.uint8).ravel(), minlength=256) / g.size
    nz = hist[hist > 0]
    entropy = float(-(nz * np.log2(nz)).sum())
    if min(g.shape) >= 3:
        lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
        # Relative to the contrast, so a dark or faded image is not taken for a blurred one.
        sharpness = float(lap.std()) / max(float(g.std()), 1e-3)
    else:
        sharpness = 0.0
    signed = int(np.array([phash], dtype=np.uint64).view(np.int64)[0])
    stats = (float(width), float(height), float(p99), float(p5), sharpness, entropy,
             float(g.std()))  # fmt: skip
    return Measured(stats, digest, signed)


def read_images(
    urls: Sequence[str | None],
    resolve: Callable[[str], str],
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[int], None] | None = None,
) -> ImageStats:
    """Measure every image; :class:`InsightsError` naming the missing or unreadable files (and
    how many) when any cannot be read. Nothing is written either way."""
    stats = ImageStats.empty(len(urls))
    hashes: dict[int, tuple[int, int]] = {}
    failures: list[str] = []

    def one(i: int, url: str) -> tuple[int, Measured | str]:
        absolute = resolve(url)
        try:
            return i, measure(storage.read_bytes(absolute))
        except StorageError as exc:
            return i, f"{absolute}: {exc}"
        except Exception as exc:
            return i, f"{absolute}: not a readable image ({type(exc).__name__}: {exc})"

    with storage.data_files(), storage.FencedExecutor(max_workers=workers) as pool:
        for i, result in _bounded(pool, one, urls, 4 * workers):
            if isinstance(result, str):
                failures.append(result)
            else:
                for values, value in zip(stats.floats(), result.stats, strict=True):
                    values[i] = value
                hashes[i] = (result.content_hash, result.phash)
            if progress is not None:
                progress(1)
    if failures:
        shown = "; ".join(failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        raise InsightsError(
            f"{len(failures)} of {len(urls)} images could not be read: {shown}{more}. Fix the "
            "files or their aliases (`tercet alias list`), or leave out the checks that read "
            "images (checks=['label', 'outliers']). Nothing was written."
        )
    for i, (content, phash) in hashes.items():
        stats.content_hash[i] = content
        stats.phash[i] = phash
    return stats


def _bounded(
    pool: storage.FencedExecutor,
    fn: Callable[[int, str], tuple[int, Measured | str]],
    urls: Sequence[str | None],
    window: int,
) -> Iterator[tuple[int, Measured | str]]:
    pending: deque[Future[tuple[int, Measured | str]]] = deque()
    for i, url in enumerate(urls):
        if url is None:
            continue
        pending.append(pool.submit(fn, i, url))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def scores(stats: ImageStats) -> dict[str, np.ndarray]:
    """Every check's score in [0, 1] (NaN where a row has no image)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sharp_median = np.nanmedian(stats.sharpness) if np.isfinite(stats.sharpness).any() else 0
        area = stats.width * stats.height
        aspect = stats.width / stats.height
        median_area = np.nanmedian(area) if np.isfinite(area).any() else 1.0
        median_aspect = np.nanmedian(aspect) if np.isfinite(aspect).any() else 1.0
        m = max(float(sharp_median), 1e-6)
        return {
            "blurry": m / (stats.sharpness + m),
            "dark": 1.0 - stats.dark_p99,
            "bright": stats.bright_p5,
            "low_information": np.clip(1.0 - stats.entropy / 8.0, 0.0, 1.0),
            "near_constant": 1.0 - np.minimum(1.0, 20.0 * stats.std),
            "odd_size": np.minimum(1.0, np.abs(np.log10(area / median_area))),
            "odd_aspect_ratio": 1.0 - np.exp(-np.abs(np.log(aspect / median_aspect))),
        }


def flags(score: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each check's flag: its score past :data:`THRESHOLDS`."""
    return {c: np.nan_to_num(s, nan=0.0) > THRESHOLDS[c] for c, s in score.items()}
