"""Insights routes: a split's summary, and samples similar to one (``docs/insights.md``).

The scores themselves need no route of their own: they join to a run's rows like metric columns
(:mod:`tercet.service.scores`), so ``/api/rows``, ``/api/count``, histograms and colour-by take
``is_label_issue``, ``label_issue_score``, ``duplicate_group`` … like any column.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from tercet import storage
from tercet.errors import InsightsError
from tercet.insights import duplicates, quality, store
from tercet.insights.inputs import as_matrix
from tercet.insights.neighbours import VectorIndex
from tercet.insights.read import similar_rows
from tercet.schema import ID_COLUMN
from tercet.service.context import ServiceContext, get_ctx
from tercet.service.errors import ApiError
from tercet.service.models import ErrorBody
from tercet.service.sources import example_ids

router = APIRouter(tags=["insights"])
Ctx = Annotated[ServiceContext, Depends(get_ctx)]
MAX_K = 1000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # an image to search by; far under service.max_request_bytes
IMAGE_SPACE = "perceptual_hash"


class InsightIssue(BaseModel):
    """One issue type: filter by ``flag`` (true), sort by ``score``; ``top`` are the worst ids."""

    type: str
    description: str
    flag: str
    score: str | None
    count: int
    top: list[int]


class InsightClass(BaseModel):
    label: int
    name: str
    count: int
    share: float
    accuracy: float | None
    low_accuracy: bool


class InsightsSummary(BaseModel):
    """What the latest insights of a split found (``tercet insights RUN`` prints the same)."""

    run: str
    split: str
    url: str = Field(description="The insights file these come from.")
    rows: int
    epochs: list[int]
    checks: list[str]
    skipped: dict[str, str] = Field(description="Checks (or parts) that did not run, and why.")
    issues: list[InsightIssue]
    classes: list[InsightClass]
    imbalance: float | None
    accuracy: float | None


class SimilarRequest(BaseModel):
    """Samples nearest (cosine) to one sample's embedding, or to a given vector."""

    model_config = ConfigDict(extra="forbid")

    run: str
    split: str
    epoch: StrictInt | None = Field(default=None, ge=0, description="Latest epoch when null.")
    example_id: StrictInt | None = None
    vector: list[float] | None = Field(default=None, max_length=65536)
    k: StrictInt = Field(default=10, ge=1, le=MAX_K)
    column: str | None = Field(default=None, description="Embedding column; the first if null.")


class SimilarSample(BaseModel):
    example_id: int
    distance: float


class SimilarResult(BaseModel):
    split: str
    epoch: int
    column: str
    samples: list[SimilarSample]


@router.get("/api/insights/summary", response_model=InsightsSummary)
def summary(
    ctx: Ctx,
    run: Annotated[str, Query(min_length=1, max_length=4096, description="Run URL.")],
    split: Annotated[str, Query(min_length=1, max_length=128, description="Split name.")] = "train",
) -> InsightsSummary:
    """Counts and top examples per issue type, class balance and weak classes of a split."""
    state = ctx.sources.run_state(run)
    url = ctx.sources.insights.url(state.url, split, state.insights.get(split, []))
    if url is None:
        have = ", ".join(sorted(state.insights)) or "none"
        raise ApiError(
            404,
            f"Run {state.name} has no insights for split {split!r} (splits with insights: "
            f"{have}). Compute them with `tercet insights {state.url} --split {split} --compute`.",
        )
    try:
        found: dict[str, Any] = dict(store.read_summary(url))
    except InsightsError as exc:
        raise ApiError(422, str(exc)) from None
    return InsightsSummary.model_validate({**found, "url": url})


@router.post("/api/similar", response_model=SimilarResult)
def similar(request: SimilarRequest, ctx: Ctx) -> SimilarResult:
    """The ``k`` samples whose embeddings are nearest to ``example_id``'s (or to ``vector``)."""
    if (request.example_id is None) == (request.vector is None):
        raise ApiError(422, "Give exactly one of example_id and vector.")
    state = ctx.sources.run_state(request.run)
    files = ctx.sources.metrics_files(state, request.split, request.epoch)
    embedded = [str(c["name"]) for c in files[-1].columns if c.get("role") == "embedding"]
    column = request.column or (embedded[0] if embedded else None)
    if column is None or column not in embedded:
        have = ", ".join(embedded) or "none"
        raise ApiError(
            422,
            f"Split {request.split!r} of run {state.name} has no embedding column "
            f"{column or ''!s}; embedding columns: {have}. Collect one with EmbeddingCollector.",
        )
    table = ctx.sources.metrics(files)
    key = ("similar", tuple(f.url for f in files), column)

    def load() -> tuple[tuple[np.ndarray, np.ndarray, VectorIndex], int]:
        ids = example_ids(table, "the metrics files")
        vectors = as_matrix(table.column(column))
        return (ids, vectors, VectorIndex(vectors)), 2 * int(vectors.nbytes) + 8 * len(ids)

    ids, vectors, index = ctx.sources.cache.get(key, load)
    k = min(request.k, len(ids))
    if request.vector is not None:
        if len(request.vector) != vectors.shape[1]:
            raise ApiError(
                422, f"vector has {len(request.vector)} values; {column} has {vectors.shape[1]}."
            )
        found = index.search(np.asarray([request.vector], dtype=np.float32), k)
        rows = found.index[0][found.index[0] >= 0]
        samples = [
            SimilarSample(example_id=int(ids[r]), distance=float(d))
            for r, d in zip(rows, found.distance[0][: len(rows)], strict=True)
        ]
    else:
        try:
            near = similar_rows(ids, vectors, index, int(request.example_id or 0), k)
        except InsightsError as exc:
            raise ApiError(404, str(exc)) from None
        samples = [
            SimilarSample(example_id=int(i), distance=float(d))
            for i, d in zip(
                near.column(ID_COLUMN).to_pylist(),
                near.column("distance").to_pylist(),
                strict=True,
            )
        ]
    return SimilarResult(split=request.split, epoch=files[-1].epoch, column=column,
                         samples=samples)  # fmt: skip


class SimilarImageResult(BaseModel):
    """Samples nearest to an uploaded image, and the space they were searched in."""

    split: str
    space: str = Field(
        description="Where the image was compared: 'perceptual_hash' (Tercet keeps no model to "
        "embed an upload, so the 64-bit perceptual hash the near-duplicate check uses), distance "
        "= differing bits / 64."
    )
    source: str = Field(description="The insights file whose hashes were searched.")
    near_duplicate_distance: float = Field(
        description="Distances at or under this are near duplicates by the duplicate check."
    )
    exact: list[int] = Field(description="Samples whose file has the same bytes as the upload.")
    samples: list[SimilarSample]


BINARY = {"type": "string", "format": "binary"}
UPLOAD_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")


async def _upload(request: Request) -> bytes:
    """The request body as an image upload: an image content type, at most MAX_UPLOAD_BYTES
    (refused by Content-Length up front, else while streaming)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in UPLOAD_TYPES:
        raise ApiError(
            415,
            f"Content-Type {kind or 'none'!r} is not an image upload; send the image's bytes as "
            f"the body with one of {', '.join(UPLOAD_TYPES)}.",
        )
    detail = f"The image is over {MAX_UPLOAD_BYTES:,} bytes, the most this route accepts."
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
        raise ApiError(413, detail)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise ApiError(413, detail)
    if not body:
        raise ApiError(422, "The body is empty: send the image's bytes.")
    return bytes(body)


def _measure_upload(data: bytes, max_pixels: int, ctx: ServiceContext) -> quality.Measured:
    """Content and perceptual hash of an upload; its header is checked before any pixel is
    decoded, so a small file announcing a huge canvas (a decompression bomb) costs nothing."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(413, f"The image is refused by Pillow's limit ({exc}).") from None
    except Exception as exc:  # Pillow raises many kinds for foreign or damaged files
        raise ApiError(422, f"The body is not a readable image ({type(exc).__name__}).") from None
    if width * height > max_pixels:
        raise ApiError(
            413,
            f"The image is {width}x{height} = {width * height:,} pixels, over the {max_pixels:,} "
            "this service decodes (setting service.max_image_pixels).",
        )
    try:
        with ctx.decodes:
            return quality.measure(data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(413, f"The image is refused by Pillow's limit ({exc}).") from None
    except Exception as exc:
        raise ApiError(422, f"The body is not a readable image ({type(exc).__name__}).") from None


@router.post(
    "/api/similar/image",
    response_model=SimilarImageResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"The image's bytes (at most {MAX_UPLOAD_BYTES:,}).",
            "content": {t: {"schema": BINARY} for t in UPLOAD_TYPES},
        }
    },
    responses={415: {"model": ErrorBody, "description": "The body is not an image type."}},
)
def similar_image(
    ctx: Ctx,
    data: Annotated[bytes, Depends(_upload)],
    run: Annotated[str, Query(min_length=1, max_length=4096, description="Run URL.")],
    split: Annotated[str, Query(min_length=1, max_length=128, description="Split name.")] = "train",
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many samples.")] = 10,
) -> SimilarImageResult:
    """The ``k`` samples of a split nearest to an uploaded image (the body), searched by the
    perceptual hashes the split's latest insights hold (``tercet insights --compute`` with an
    image column); byte-identical files are listed under ``exact``."""
    state = ctx.sources.run_state(run)
    url = ctx.sources.insights.url(state.url, split, state.insights.get(split, []))
    if url is None:
        raise ApiError(
            404,
            f"Run {state.name} has no insights for split {split!r}, whose image hashes an upload "
            f"is compared with. Compute them with `tercet insights {state.url} --split {split} "
            "--compute`.",
        )

    def load() -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int]:
        names = set(storage.read_parquet_metadata(url).schema.to_arrow_schema().names)
        if "perceptual_hash" not in names:
            raise ApiError(
                422,
                f"The insights of split {split!r} hold no image hashes (computed without an "
                "image column, or by an older Tercet); recompute them with the image column.",
            )
        t = storage.read_parquet(url, columns=[ID_COLUMN, "content_hash", "perceptual_hash"])
        has = t.column("perceptual_hash").is_valid()
        t = t.filter(has)
        columns = tuple(
            np.asarray(t.column(c).to_numpy(), dtype=np.int64)
            for c in (ID_COLUMN, "content_hash", "perceptual_hash")
        )
        return columns, 24 * t.num_rows  # type: ignore[return-value]

    ids, content, phash = ctx.sources.cache.get(("similar-image", url), load)
    measured = _measure_upload(data, ctx.config.service.max_image_pixels, ctx)
    bits = duplicates.hamming(phash, measured.phash)
    order = np.lexsort((ids, bits))[: min(k, len(ids))]
    return SimilarImageResult(
        split=split,
        space=IMAGE_SPACE,
        source=url,
        near_duplicate_distance=duplicates.PHASH_MAX_BITS / 64,
        exact=sorted(int(i) for i in ids[content == measured.content_hash]),
        samples=[
            SimilarSample(example_id=int(ids[r]), distance=float(bits[r]) / 64) for r in order
        ],
    )
