"""The application factory: :func:`create_app` builds one Object Service as a FastAPI app."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Security

from tercet import config
from tercet._version import __version__
from tercet.service import (
    analysis,
    density,
    errors,
    events,
    files,
    insights,
    navigation,
    revisions,
    rows,
    spill,
)
from tercet.service.access import Access
from tercet.service.auth import bearer_scheme, check_token, grant_scheme, load_or_create_token
from tercet.service.cache import ByteLRU, budget
from tercet.service.context import ServiceContext
from tercet.service.events import EventBus
from tercet.service.grants import Grants
from tercet.service.index import Index
from tercet.service.middleware.body_limit import BodyLimitMiddleware
from tercet.service.middleware.cors import add_cors
from tercet.service.middleware.errors import CatchAllMiddleware
from tercet.service.middleware.fence import FenceMiddleware
from tercet.service.middleware.token import TokenMiddleware
from tercet.service.models import ErrorBody
from tercet.service.query import Database
from tercet.service.sources import Sources
from tercet.storage import objcache

log = logging.getLogger("tercet.service")

# Every error body is {"detail": str}; declared so generated clients type it (FastAPI's default
# 422 schema, a list of pydantic errors, is not what this service sends).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "Missing or invalid token."),
        (403, "A URL outside the roots this service serves."),
        (404, "No such object."),
        (413, "The request body is too large."),
        (
            422,
            "Invalid input: a body that is not JSON (or not UTF-8, or nested too deeply), a "
            "field of the wrong type or range, a column the source lacks, stored rows that do "
            "not fit their schema; the detail names which.",
        ),
        (502, "The storage backend failed: a missing bucket, an unreachable endpoint, …"),
    )
}
DESCRIPTION = (
    "HTTP service over Tercet storage: lists projects, table revisions and runs, streams rows "
    "as Arrow IPC, serves data files, writes revisions. Every route except /api/health needs "
    "the bearer token in the Authorization header; GET /api/file also takes a short-lived "
    "`grant` (POST /api/file/grant). See docs/api.md."
)


async def _scan_loop(ctx: ServiceContext) -> None:
    interval = ctx.scan_interval
    while True:
        try:
            # Spared when a scan started by a request ran within the interval.
            await anyio.to_thread.run_sync(ctx.index.refresh, interval)
            # The next scan one interval after this one started, but with at least half an
            # interval of quiet in between: a store slower than that is not listed back to back.
            wait = ctx.index.last_scan + interval - time.monotonic()
        except Exception:
            log.exception("index scan failed")
            wait = interval
        await asyncio.sleep(max(wait, interval / 2))


def create_app(
    cfg: config.Config | None = None,
    *,
    token: str | None = None,
    scan_interval: float = 2.0,
    cache_bytes: int | None = None,
) -> FastAPI:
    """Build the Object Service.

    Parameters
    ----------
    cfg
        The configuration (``tercet.config.load()`` when omitted): ``root`` and ``service.scan``
        are scanned for projects; ``service.file_roots``, CORS origins and the request size
        limit come from ``service``.
    token
        The bearer token; by default ``service.token`` or the token file in the config dir
        (created with mode 0600 on first start). A blank, short (under 16 characters) or
        non-ASCII token raises :class:`~tercet.errors.ConfigError`.
    scan_interval
        Seconds between background scans of storage, which drive the event stream.
    cache_bytes
        Budget of the in-memory cache of materialised sources (``service.cache_bytes`` when
        omitted, 2 GiB by default); a table bigger than it is served from a local copy on
        disk. Outside 16 MiB to the machine's memory it raises
        :class:`~tercet.errors.ConfigError`.

    Returns
    -------
    FastAPI
        The app; its ``state.ctx`` is the :class:`~tercet.service.context.ServiceContext`.
    """
    cfg = cfg or config.load()
    token = load_or_create_token(cfg) if token is None else check_token(token, "create_app")
    roots = [cfg.root, *cfg.service.scan]
    bus = EventBus()
    access = Access(roots, cfg.service.file_roots)
    index = Index(
        roots,
        on_events=bus.publish,
        fence=access.fence,
        tmp_sweep_age=cfg.service.tmp_sweep_age,
    )
    if cache_bytes is not None:  # the caller's config is left as it was
        cfg = dataclasses.replace(
            cfg,
            service=dataclasses.replace(cfg.service, cache_bytes=cache_bytes),
            sources={**cfg.sources, "service.cache_bytes": "create_app(cache_bytes=...)"},
        )
    cache = ByteLRU(budget(cfg))
    disk = objcache.from_config(cfg)
    ctx = ServiceContext(
        config=cfg,
        token=token,
        access=access,
        index=index,
        bus=bus,
        sources=Sources(
            access,
            index,
            cache,
            index_max_age=scan_interval,
            disk=disk,
            out_of_core=spill.out_of_core,
        ),
        db=Database(),
        scan_interval=scan_interval,
        grants=Grants(token),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_scan_loop(ctx))
        try:
            yield
        finally:
            task.cancel()
            ctx.close()

    app = FastAPI(
        title="Tercet Object Service",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,  # the Swagger page loads scripts from a CDN and cannot send the token
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app)
    secured = [Security(bearer_scheme)]
    app.include_router(navigation.public)
    for router in (navigation.router, rows.router, analysis.router, files.grant_router,
                   revisions.router, events.router, insights.router,
                   density.router):  # fmt: skip
        app.include_router(router, dependencies=secured, responses=ERROR_RESPONSES)
    # /api/file also opens with a grant (for <img src>); declared so the document says so.
    app.include_router(
        files.router, dependencies=[*secured, Security(grant_scheme)], responses=ERROR_RESPONSES
    )
    # Added innermost first: CORS wraps everything, so even a 401 or 500 is readable by the
    # dashboard; the catch-all sits inside it.
    app.add_middleware(FenceMiddleware, fence=access.fence)
    app.add_middleware(BodyLimitMiddleware, max_bytes=cfg.service.max_request_bytes)
    app.add_middleware(TokenMiddleware, token=token, grants=ctx.grants)
    app.add_middleware(CatchAllMiddleware)
    add_cors(app, cfg)
    return app
