"""The Object Service: an HTTP API over Tercet storage for the dashboard (``tercet service``).

:func:`create_app` builds the FastAPI application; :mod:`tercet.service.server` runs it under
uvicorn (in the foreground for the CLI, in a thread for tests and ``tercet ui``).
"""

from __future__ import annotations

from tercet.service.app import create_app

__all__ = ["create_app"]
