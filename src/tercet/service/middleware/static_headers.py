"""Caching and hardening headers for the dashboard's static files."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class StaticHeadersMiddleware:
    """Caching and hardening headers: hashed assets forever, the page itself never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        immutable = path.startswith("/assets/")

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                cache = b"public, max-age=31536000, immutable" if immutable else b"no-cache"
                headers += [
                    (b"cache-control", cache),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)
