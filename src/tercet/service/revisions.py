"""``POST /api/revisions``: edits from the dashboard become a new sparse revision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tercet.service.context import ServiceContext, get_ctx
from tercet.service.models import RevisionCreated, RevisionRequest
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
