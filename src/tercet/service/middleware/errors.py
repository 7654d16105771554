"""The catch-all: an unexpected exception becomes a generic 500 with a short id, its trace goes to
the service log, and nothing about the server leaks to the client."""

from __future__ import annotations

import logging
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tercet.service.errors import error_response

log = logging.getLogger("tercet.service")


class CatchAllMiddleware:
    """Turns an unexpected exception into a generic 500 and logs the trace server-side.

    It sits inside the CORS middleware so that even a 500 reaches the dashboard readable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception(
                "error %s while serving %s %s", error_id, scope.get("method"), scope.get("path")
            )
            if started:
                return  # the response is under way; the client sees a cut stream
            response = error_response(
                500, f"Internal error {error_id}; the service log has the details."
            )
            await response(scope, receive, send)
