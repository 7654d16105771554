"""CORS: only the dashboard's origin may call the service from a browser."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tercet import config
from tercet.service import origins


def dashboard_origins(cfg: config.Config) -> list[str]:
    """Origins allowed by CORS: ``service.cors_origins``, else the dashboard's.

    The dashboard's is on ``dashboard.port`` at every name the dashboard's host and the
    service's host are reached by: a service bound to a workstation-facing address (``tercet
    ui --host gpu-node``) accepts the dashboard served beside it on that address, and one bound
    to every interface accepts this machine's names and addresses.
    """
    if cfg.service.cors_origins:
        return list(cfg.service.cors_origins)
    hosts = [
        *origins.reachable_hosts(cfg.dashboard.host),
        *origins.reachable_hosts(cfg.service.host),
        "127.0.0.1",
        "localhost",
    ]
    return origins.origins(list(dict.fromkeys(hosts)), cfg.dashboard.port)


def add_cors(app: FastAPI, cfg: config.Config) -> None:
    """Allow the dashboard's origins to read every response, errors included."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=dashboard_origins(cfg),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "If-None-Match"],
        expose_headers=["X-Total-Count", "X-Offset", "ETag"],
        max_age=600,
    )
