"""401 for any HTTP request without the service's token: checked here, for every route (including
the OpenAPI document and any route added later), so none can forget it."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from tercet.service.auth import PUBLIC_PATHS, token_path
from tercet.service.errors import error_response


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
        response = error_response(401, detail, {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
