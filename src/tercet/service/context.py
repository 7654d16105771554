"""Everything one service instance holds, built once by :func:`create_app` and shared by routes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from tercet.config import Config
from tercet.service.access import Access
from tercet.service.events import EventBus
from tercet.service.grants import Grants
from tercet.service.index import Index
from tercet.service.query import Database
from tercet.service.sources import Sources


@dataclass
class ServiceContext:
    """The state of one service: caches only, all rebuilt from storage after a restart."""

    config: Config
    token: str
    access: Access
    index: Index
    bus: EventBus
    sources: Sources
    db: Database
    scan_interval: float
    grants: Grants
    decodes: threading.BoundedSemaphore = field(init=False)
    """Bounds the full-size images decoded at once (``service.image_decoders``)."""

    def __post_init__(self) -> None:
        self.decodes = threading.BoundedSemaphore(max(1, self.config.service.image_decoders))

    @property
    def index_max_age(self) -> float:
        """How old the index may be before a request starts a scan in the background (the
        background task normally scans sooner; requests never wait for a rescan)."""
        return self.scan_interval

    def close(self) -> None:
        """End open event streams and release DuckDB."""
        self.bus.close()
        self.db.close()


def get_ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx
