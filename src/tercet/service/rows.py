"""Query routes over a source: schema, rows as Arrow IPC, counts and summaries."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import TypeAdapter, ValidationError

from tercet.schema import ID_COLUMN
from tercet.service import answers, cold, filters, lookup, query, wire
from tercet.service.context import ServiceContext, get_ctx
from tercet.service.errors import ApiError, format_validation
from tercet.service.models import (
    MAX_LIMIT,
    MAX_OFFSET,
    CategorySummary,
    CountRequest,
    CountResult,
    HistogramSummary,
    RowsRequest,
    SchemaInfo,
    SchemaRequest,
    SummaryRequest,
)

ARROW = "application/vnd.apache.arrow.stream"
router = APIRouter(tags=["rows"])
Ctx = Annotated[ServiceContext, Depends(get_ctx)]

ARROW_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Arrow IPC stream of the page; always includes example_id.",
        "content": {ARROW: {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            "X-Total-Count": {
                "description": "Rows matching the filter.",
                "schema": {"type": "integer"},
            },
            "X-Offset": {"description": "Offset of the first row.", "schema": {"type": "integer"}},
        },
    }
}


@router.post("/api/schema", response_model=SchemaInfo)
def schema(request: SchemaRequest, ctx: Ctx) -> SchemaInfo:
    """The columns of a source (types, roles, value maps) and its number of rows."""
    source = cold.source(ctx.sources, request.source)
    return SchemaInfo(
        columns=source.columns,
        num_rows=source.num_rows,
        density_points=ctx.config.service.density_points,
    )


def _rows(ctx: ServiceContext, request: RowsRequest) -> Response:
    source = ctx.sources.get(request.source)
    where = filters.compile_filter(source, request.filter)

    def encode() -> tuple[memoryview, int]:
        ids = lookup.id_values(request.filter) if not request.sort else None
        if ids is not None and source.by_name.get(ID_COLUMN) is not None and source.in_memory:
            page, total = query.rows_by_id(
                source, ids, request.columns, request.offset, request.limit
            )
        else:
            page, total = query.rows(
                ctx.db, source, where, request.columns, request.sort, request.offset, request.limit
            )
        return wire.ipc_stream(wire.compact(page) if request.compact else page), total

    if where.is_trivial and not request.sort:
        # a scatter's points: the same bytes at every reload (sources never change)
        body, total = answers.whole(
            ctx.sources.cache,
            source,
            request.columns,
            request.compact,
            request.offset,
            request.limit,
            encode,
        )
    else:
        body, total = encode()
    return Response(
        body,
        media_type=ARROW,
        headers={"X-Total-Count": str(total), "X-Offset": str(request.offset)},
    )


@router.post("/api/rows", response_class=Response, responses=ARROW_RESPONSE)
def rows_post(request: Annotated[RowsRequest, Body()], ctx: Ctx) -> Response:
    """Rows of a source, filtered, sorted and paged, as an Arrow IPC stream."""
    return _rows(ctx, request)


def _json_param(name: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(422, f"Query parameter {name!r} is not valid JSON: {exc}.") from None


_rows_adapter = TypeAdapter(RowsRequest)


@router.get("/api/rows", response_class=Response, responses=ARROW_RESPONSE)
def rows_get(
    ctx: Ctx,
    source: Annotated[str, Query(description="Source as JSON.", max_length=16384)],
    columns: Annotated[
        str | None, Query(description="Comma-separated column names.", max_length=65536)
    ] = None,
    filter: Annotated[
        str | None, Query(description="Filter as JSON (long ones: POST).", max_length=65536)
    ] = None,
    sort: Annotated[str | None, Query(description="Sort keys as JSON.", max_length=4096)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = 100,
) -> Response:
    """The same as ``POST /api/rows``, with JSON in query parameters (for links)."""
    raw: dict[str, Any] = {
        "source": _json_param("source", source),
        "columns": [c for c in columns.split(",") if c] if columns is not None else None,
        "filter": _json_param("filter", filter),
        "sort": _json_param("sort", sort) or [],
        "offset": offset,
        "limit": limit,
    }
    try:
        request = _rows_adapter.validate_python(raw)
    except ValidationError as exc:
        raise ApiError(422, format_validation(list(exc.errors()))) from None
    return _rows(ctx, request)


@router.post("/api/count", response_model=CountResult)
def count(request: CountRequest, ctx: Ctx) -> CountResult:
    """Rows in the source, and rows matching the filter."""
    source = cold.source(ctx.sources, request.source)
    where = filters.compile_filter(source, request.filter)
    return CountResult(total=source.num_rows, filtered=query.count(ctx.db, source, where))


@router.post("/api/summary", response_model=HistogramSummary | CategorySummary)
def summary(request: SummaryRequest, ctx: Ctx) -> HistogramSummary | CategorySummary:
    """A histogram (numeric columns) or counts per category (labels, text, bools) under the
    filter."""
    source = cold.source(ctx.sources, request.source)
    where = filters.compile_filter(source, request.filter)
    return query.summary(
        ctx.db, source, where, request.column, request.bins, request.min, request.max
    )
