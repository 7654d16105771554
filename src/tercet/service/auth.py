"""The bearer token: created on first start, kept private, required on every route but health.

The token is checked in an ASGI middleware rather than per route, so no route (including the
OpenAPI document, and any route added later) can be forgotten. ``<img src>`` and ``EventSource``
cannot set headers, hence the ``token`` query parameter; the access log redacts it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi.security import APIKeyQuery, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from tercet import config
from tercet.errors import ConfigError
from tercet.localfile import replace_local_file
from tercet.service.errors import _json

PUBLIC_PATHS = frozenset({"/api/health"})
TOKEN_FILE = "token"

# Declared on the routes only so the OpenAPI document states how to authenticate; the check
# itself is :class:`TokenMiddleware`.
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


def _matches(given: str, token: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


class TokenMiddleware:
    """401 for any HTTP request without the right token, except :data:`PUBLIC_PATHS`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    given = credentials.strip()
                break
        if given is None:
            query = scope.get("query_string", b"").decode("latin-1")
            given = next((v for k, v in parse_qsl(query) if k == "token"), None)
        if given is not None and _matches(given, self.token):
            await self.app(scope, receive, send)
            return
        detail = (
            "Missing token: send 'Authorization: Bearer <token>' (or ?token=). `tercet service` "
            "prints it on start and keeps it in the file " + str(token_path()) + "."
            if given is None
            else "Invalid token: it does not match this service's token."
        )
        response = _json(401, detail, {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"]*")


class RedactTokenFilter(logging.Filter):
    """Hides ``token=…`` in uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True
