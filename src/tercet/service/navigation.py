"""Navigation routes: health, projects, table revisions, runs and single object descriptors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tercet import format, storage
from tercet._version import __version__
from tercet.service.context import ServiceContext, get_ctx
from tercet.service.errors import ApiError
from tercet.service.index import Project
from tercet.service.models import Health, ProjectInfo, RunInfo, RunInput, RunStream, TableRevision
from tercet.service.runs_read import RunEntry
from tercet.tables.table import Table

public = APIRouter(tags=["navigation"])
router = APIRouter(tags=["navigation"])
Ctx = Annotated[ServiceContext, Depends(get_ctx)]


@public.get("/api/health", response_model=Health)
def health() -> Health:
    """Liveness; the only route that needs no token."""
    return Health(status="ok", version=__version__)


def run_info(state: RunEntry) -> RunInfo:
    """The API's view of a run's state."""
    streams = []
    for split in sorted(state.metrics):
        epochs = state.epochs(split)
        table = state.stream_table(split)
        if epochs and table:
            streams.append(RunStream(split=split, epochs=epochs, table=table))
    return RunInfo(
        url=state.url,
        name=state.name,
        display_name=state.display_name,
        project=state.project,
        created=state.created,
        status=state.status,  # type: ignore[arg-type]
        parameters=state.parameters,
        inputs=[RunInput(table=str(i["table"]), split=i["split"]) for i in state.inputs],
        streams=streams,
        projections=state.projection_names(),
        failure=state.failure,
        error=state.error,
    )


def _check_roots(ctx: ServiceContext, projects: list[Project]) -> None:
    """A 502 naming the root when the last scan could not list a root and nothing is known
    from it: an empty list would say "no projects" where the truth is "cannot look"."""
    for root, error in ctx.index.failed_roots.items():
        under = storage.normalize(root).rstrip("/") + "/"
        if not any(storage.normalize(p.url).startswith(under) or p.url == root for p in projects):
            raise ApiError(502, f"Cannot list the project root {root}: {error}")


def _project(ctx: ServiceContext, name: str) -> Project:
    ctx.index.current(ctx.index_max_age)
    project = ctx.index.project(name)
    if project is None:
        # It may have appeared since the last scan; rate-limited, so 404s cannot drive scans.
        ctx.index.refresh(ctx.scan_interval)
        project = ctx.index.project(name)
    if project is None:
        _check_roots(ctx, ctx.index.projects())
        known = ", ".join(p.name for p in ctx.index.projects()) or "none"
        raise ApiError(404, f"No project {name!r}. Projects: {known}.")
    return project


@router.get("/api/projects", response_model=list[ProjectInfo])
def projects(ctx: Ctx) -> list[ProjectInfo]:
    """Every project under the project root and the extra scan URLs."""
    ctx.index.current(ctx.index_max_age)
    projects = ctx.index.projects()
    _check_roots(ctx, projects)
    return [
        ProjectInfo(name=p.name, url=p.url, tables=len(p.tables), runs=len(p.runs), error=p.error)
        for p in sorted(projects, key=lambda p: p.name)
    ]


@router.get("/api/projects/{project}/tables", response_model=list[TableRevision])
def tables(project: str, ctx: Ctx) -> list[TableRevision]:
    """Every revision of every table in a project; ``parent`` gives the lineage edges."""
    entries = _project(ctx, project).tables.values()
    return sorted(entries, key=lambda t: (t.dataset, t.table, t.created, t.name))


@router.get("/api/projects/{project}/runs", response_model=list[RunInfo])
def runs(project: str, ctx: Ctx) -> list[RunInfo]:
    """Every run of a project with its folded status, parameters, inputs and metric streams."""
    states = _project(ctx, project).runs.values()
    return [run_info(s) for s in sorted(states, key=lambda s: (s.created, s.name))]


@router.get("/api/object", response_model=dict[str, Any])
def get_object(
    ctx: Ctx, url: Annotated[str, Query(min_length=1, max_length=4096)]
) -> dict[str, Any]:
    """A table revision's ``object.json`` (plus its absolute ``url``), or a run's folded state."""
    absolute = ctx.access.object_url(url)
    descriptor_url = format.descriptor_url(absolute)
    descriptor = storage.read_json(descriptor_url) if storage.exists(descriptor_url) else None
    if not isinstance(descriptor, dict):
        raise ApiError(404, f"No Tercet object at {url}.")
    if descriptor.get("format") == format.RUN_FORMAT:
        return run_info(ctx.sources.run_state(absolute)).model_dump()
    table = Table.open(absolute)
    return {**table.descriptor, "url": table.url, "parent_url": table.parent_url}
