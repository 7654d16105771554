"""401 for any HTTP request without the service's token: checked here, for every route (including
the OpenAPI document and any route added later), so none can forget it.

The token is accepted in the ``Authorization: Bearer`` header only. The one exception is a
``grant`` (:mod:`tercet.service.grants`) on ``GET /api/file``, for ``<img src>``. The query string
is read raw: a parameter counts only when its name is exactly ``grant`` as sent, so no
percent-encoding of the name (``gr%61nt``) can make one, and a repeated ``grant`` is refused.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tercet.service.auth import PUBLIC_PATHS, digest, matches
from tercet.service.errors import error_response
from tercet.service.grants import GRANT_PARAM, GRANTED_METHODS, GRANTED_PATHS, Grants
from tercet.service.redact import is_credential_name

MISSING = (
    "Missing token: send the header 'Authorization: Bearer <token>'. `tercet service` prints "
    "the token when it starts."
)
IN_URL = (
    "The token is not accepted in the URL, where logs and history keep it: send the header "
    "'Authorization: Bearer <token>'."
)
INVALID = "Invalid token: it does not match this service's token."


def _bearer(scope: Scope) -> str | None:
    """The credentials of the first ``Authorization: Bearer`` header, else ``None``."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").strip().partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


def _query_names_and_values(scope: Scope) -> list[tuple[str, str]]:
    """The query string's parameters exactly as sent: nothing decoded."""
    query: bytes = scope.get("query_string", b"")
    pairs = []
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return pairs


class TokenMiddleware:
    """401 for any HTTP request without the right token, except :data:`PUBLIC_PATHS`."""

    def __init__(self, app: ASGIApp, token: str, grants: Grants) -> None:
        self.app = app
        self._digest = digest(token)
        self.grants = grants

    def _refusal(self, scope: Scope) -> str | None:
        """Why this request is not let in, or ``None``."""
        given = _bearer(scope)
        if given is not None:
            return None if matches(given, self._digest) else INVALID
        params = _query_names_and_values(scope)
        grants = [value for name, value in params if name == GRANT_PARAM]
        if grants:
            if scope["path"] not in GRANTED_PATHS or scope["method"] not in GRANTED_METHODS:
                return f"A grant opens only GET /api/file; {MISSING[0].lower()}{MISSING[1:]}"
            if len(grants) > 1:
                return "Invalid grant: the URL holds more than one."
            return self.grants.refusal(grants[0], scope["path"])
        if any(is_credential_name(name) for name, _ in params):
            return IN_URL
        return MISSING

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        response = error_response(401, refusal, {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
