"""The bearer token: created on first start, kept private, required on every route but health.

The token is checked in an ASGI middleware (:mod:`tercet.service.middleware.token`) rather than
per route, so no route (including the OpenAPI document, and any route added later) can be
forgotten. ``<img src>`` and ``EventSource`` cannot set headers, hence the ``token`` query
parameter; the access log redacts it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from pathlib import Path

from fastapi.security import APIKeyQuery, HTTPBearer

from tercet import config
from tercet.errors import ConfigError
from tercet.localfile import replace_local_file

PUBLIC_PATHS = frozenset({"/api/health"})
TOKEN_FILE = "token"

# Declared on the routes only so the OpenAPI document states how to authenticate; the check
# itself is the token middleware.
bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`")
query_scheme = APIKeyQuery(name="token", auto_error=False, description="For img and EventSource.")


def token_path() -> Path:
    """Where the generated token is kept: ``<config dir>/token``."""
    return config.config_dir() / TOKEN_FILE


def load_or_create_token(cfg: config.Config) -> str:
    """The configured token, else the one saved in the config dir, else a new saved one."""
    if cfg.service.token:
        return cfg.service.token.strip()
    path = token_path()
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.chmod(path, 0o600)  # someone loosened it; the token grants full access
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the service token {path}: {exc}. Delete it to make a new one."
        ) from exc
    token = secrets.token_urlsafe(32)
    replace_local_file(path, (token + "\n").encode("ascii"), mode=0o600)
    return token


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"]*")


class RedactTokenFilter(logging.Filter):
    """Hides ``token=…`` in uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True
