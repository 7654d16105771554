"""``POST /api/revisions``: edits from the dashboard become a new sparse revision;
``GET /api/revisions/changes``: what one revision changed against its parent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tercet.service.context import ServiceContext, get_ctx
from tercet.service.models import ColumnChange, RevisionChanges, RevisionCreated, RevisionRequest
from tercet.tables.changes import revision_changes
from tercet.tables.table import Table

router = APIRouter(tags=["revisions"])
Ctx = Annotated[ServiceContext, Depends(get_ctx)]


@router.post("/api/revisions", status_code=201, response_model=RevisionCreated)
def create_revision(request: RevisionRequest, ctx: Ctx) -> RevisionCreated:
    """Write the edits as a new revision whose parent is ``base``.

    The core library validates every edit against the schema before anything is written, so a
    rejected request (422) leaves storage untouched. A base that already has children is fine:
    each commit keeps its own revision, and ``base_had_children`` lets the client warn.
    """
    base = Table.open(ctx.access.object_url(request.base))
    had_children = bool(base.children())
    revision = base.apply_edits(request.edits.model_dump(), message=request.message)
    ctx.index.add_revision(revision)  # listed and announced now, without a scan
    return RevisionCreated(
        url=revision.url,
        id=revision.id,
        name=revision.name,
        num_rows=revision.num_rows,
        parent=base.url,
        base_had_children=had_children,
    )


@router.get("/api/revisions/changes", response_model=RevisionChanges)
def changes(
    ctx: Ctx,
    table: Annotated[str, Query(min_length=1, max_length=4096)],
    limit: Annotated[int, Query(ge=0, le=1000)] = 24,
) -> RevisionChanges:
    """The ids a revision deleted and, per column, the ids whose value it set (the first
    ``limit`` of each, with the full counts): the project page's revision diff."""
    revision = Table.open(ctx.access.object_url(table))
    found = revision_changes(revision)
    return RevisionChanges(
        url=revision.url,
        parent=revision.parent_url,
        whole=found.whole,
        deleted=len(found.deleted),
        deleted_ids=[int(i) for i in sorted(found.deleted.tolist())[:limit]],
        set=[
            ColumnChange(column=c, count=len(ids), example_ids=sorted(ids.tolist())[:limit])
            for c, ids in found.set.items()
        ],
        added_columns=found.added_columns,
    )
