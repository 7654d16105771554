"""``POST /api/density``: where the points of a scatter lie, binned in DuckDB, for sources too
large to send every point to the browser.

The grid covers the viewport asked for (or the extent of the filtered rows), so zooming in
gives finer cells: the level of detail follows the zoom. The answer also says how many rows lie
inside the viewport; when they are at most ``service.density_points`` (or the request's
``max_points``), ``points`` is true and the client fetches exactly those rows with
``POST /api/rows`` (the filter and two ``range`` filters on the axes), so hover, click, lasso
and colour-by keep working on real rows with their ``example_id``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from tercet.service.cache import ByteLRU
from tercet.service.context import ServiceContext, get_ctx
from tercet.service.errors import ApiError
from tercet.service.filters import Where, compile_filter, quote
from tercet.service.models import MAX_LIMIT, Filter, FiniteFloat, Source
from tercet.service.sources import NUMERIC, SourceData

router = APIRouter(tags=["rows"])
Ctx = Annotated[ServiceContext, Depends(get_ctx)]
# Answers kept per source, filter and grid: sources are immutable (their key names the exact
# files), so an answer never goes stale; a page reload or a pan back costs no scan. Each entry
# counts 1, so the bound is a count (a 256 × 256 answer is at most ~65k cells).
ANSWERS_KEPT = 32
_answers = ByteLRU(ANSWERS_KEPT)
_extents = ByteLRU(ANSWERS_KEPT * 4)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as every request of the API: typos are 422s


class Viewport(_Request):
    """A rectangle in data coordinates (bounds inclusive)."""

    x0: FiniteFloat
    x1: FiniteFloat
    y0: FiniteFloat
    y1: FiniteFloat


class DensityRequest(_Request):
    """Counts of the filtered rows on a ``bins`` × ``bins`` grid over a viewport of x, y."""

    source: Source
    filter: Filter | None = None
    x: str
    y: str
    viewport: Viewport | None = Field(
        default=None, description="The rectangle to bin; the filtered rows' extent when null."
    )
    bins: int = Field(default=256, ge=1, le=1024)
    max_points: int | None = Field(
        default=None,
        ge=0,
        le=MAX_LIMIT,
        description="Most rows in the viewport for `points` to be true (default: the "
        "service's `density_points`).",
    )


class DensityResult(BaseModel):
    """The non-empty cells of the grid (``ix[i]``, ``iy[i]``, ``counts[i]``; cell ``(0, 0)``
    holds the smallest x and y) and how many rows they add up to."""

    total: int = Field(description="Rows under the filter with finite x and y.")
    in_view: int = Field(description="Of those, rows inside the viewport.")
    extent: Viewport | None = Field(description="Bounds of the filtered rows; null: none.")
    viewport: Viewport | None = Field(description="The rectangle binned; null: nothing to bin.")
    bins: int
    ix: list[int]
    iy: list[int]
    counts: list[int]
    max_count: int
    threshold: int = Field(description="Most rows in view to be sent as points.")
    points: bool = Field(description="in_view ≤ threshold: fetch the viewport's rows.")


def _span(lo: float, hi: float) -> tuple[float, float]:
    """``(lo, hi)`` widened around a single value, so a constant column still bins."""
    if hi > lo:
        return lo, hi
    half = max(0.5, abs(lo) * 2.0**-20)
    return lo - half, hi + half


@router.post("/api/density", response_model=DensityResult)
def density(request: DensityRequest, ctx: Ctx) -> DensityResult:
    """The filtered rows binned over x and y inside a viewport (see the module text)."""
    source = ctx.sources.get(request.source)
    for name in (request.x, request.y):
        col = source.column(name, "axis")
        if col.type not in NUMERIC:
            raise ApiError(422, f"Cannot bin {name!r}: it holds {col.type} values, not numbers.")
    where = compile_filter(source, request.filter)
    threshold = (
        request.max_points if request.max_points is not None else ctx.config.service.density_points
    )
    flt = request.filter.model_dump_json() if request.filter is not None else ""
    base = (source.key, flt, request.x, request.y)
    key = (*base, request.viewport and request.viewport.model_dump_json(), request.bins, threshold)
    answer: DensityResult = _answers.get(
        key, lambda: (_bin(ctx, source, where, request, threshold, base), 1)
    )
    return answer


def _bin(
    ctx: ServiceContext, source: SourceData, where: Where, request: DensityRequest,
    threshold: int, base: Hashable,
) -> DensityResult:  # fmt: skip
    """The answer of :func:`density` when none is kept."""
    x, y = (f"CAST({quote(c)} AS DOUBLE)" for c in (request.x, request.y))
    valid = f"isfinite({x}) AND isfinite({y})"  # null is not finite either
    with ctx.db.query(source, where) as cur:
        # The filtered rows' count and bounds, once per source, filter and axes.
        row = _extents.get(base, lambda: (cur.execute(
            f"SELECT count(*), min({x}), max({x}), min({y}), max({y}) "
            f"FROM src WHERE ({where.sql}) AND {valid}",
            where.params,
        ).fetchone(), 1))  # fmt: skip
        total = int(row[0]) if row else 0
        if not total or row is None:
            return DensityResult(
                total=0, in_view=0, extent=None, viewport=None, bins=request.bins, ix=[], iy=[],
                counts=[], max_count=0, threshold=threshold, points=True,
            )  # fmt: skip
        extent = Viewport(x0=row[1], x1=row[2], y0=row[3], y1=row[4])
        view = request.viewport or extent
        if view.x1 < view.x0 or view.y1 < view.y0:
            raise ApiError(422, "The viewport's x1 and y1 must not be below its x0 and y0.")
        (x0, x1), (y0, y1) = _span(view.x0, view.x1), _span(view.y0, view.y1)
        wx, wy = (x1 - x0) / request.bins, (y1 - y0) / request.bins
        if not (math.isfinite(wx) and math.isfinite(wy) and wx > 0 and wy > 0):
            raise ApiError(422, "The viewport is too wide or too narrow to bin; zoom in or out.")
        last = request.bins - 1
        # Clamped in SQL: the right and top edges fall in the last cell, nothing overflows.
        # Ordered: a parallel hash aggregate returns its groups in any order, and two replicas
        # (or two asks of one service) must give the same answer.
        cells = cur.execute(
            f"SELECT CAST(least(floor(({x} - ?) / ?), ?) AS BIGINT) AS ix, "
            f"CAST(least(floor(({y} - ?) / ?), ?) AS BIGINT) AS iy, count(*) AS n "
            f"FROM src WHERE ({where.sql}) AND {valid} "
            f"AND {x} >= ? AND {x} <= ? AND {y} >= ? AND {y} <= ? GROUP BY 1, 2 ORDER BY 1, 2",
            [x0, wx, last, y0, wy, last, *where.params, x0, x1, y0, y1],
        ).fetchnumpy()
    counts = [int(n) for n in cells["n"]]
    in_view = sum(counts)
    return DensityResult(
        total=total,
        in_view=in_view,
        extent=extent,
        viewport=Viewport(x0=x0, x1=x1, y0=y0, y1=y1),
        bins=request.bins,
        ix=[int(i) for i in cells["ix"]],
        iy=[int(i) for i in cells["iy"]],
        counts=counts,
        max_count=max(counts, default=0),
        threshold=threshold,
        points=in_view <= threshold,
    )
