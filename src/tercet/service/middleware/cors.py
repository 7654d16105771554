"""CORS: only the dashboard's origin may call the service from a browser."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tercet import config


def dashboard_origins(cfg: config.Config) -> list[str]:
    """Origins allowed by CORS: ``service.cors_origins``, else the local dashboard's."""
    if cfg.service.cors_origins:
        return list(cfg.service.cors_origins)
    port = cfg.dashboard.port
    hosts = dict.fromkeys([cfg.dashboard.host, "127.0.0.1", "localhost"])
    return [f"http://{h}:{port}" for h in hosts if h not in ("0.0.0.0", "::")]


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
