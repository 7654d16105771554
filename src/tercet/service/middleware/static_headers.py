"""Caching and hardening headers for the dashboard's static files, its Content-Security-Policy
included."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def dashboard_csp(services: Sequence[str]) -> str:
    """The policy the dashboard runs under: its own scripts only, and network access to itself
    and the Object Service origins in ``services`` (already checked source expressions).

    Styles: the built CSS is a file ('self'); Svelte sets ``style`` attributes for positions and
    colours, which ``style-src-attr`` allows, while a ``<style>`` element stays refused. Thumbnails
    come from the service; ``data:`` is the favicon. No eval, no inline script, no plugins, no
    ``<base>``, no framing, no form posts.
    """
    allowed = " ".join(services)
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-elem 'self'",
        "style-src-attr 'unsafe-inline'",
        f"img-src 'self' data: {allowed}".rstrip(),
        f"connect-src 'self' {allowed}".rstrip(),
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'none'",
    ]
    return "; ".join(directives)


class StaticHeadersMiddleware:
    """Caching and hardening headers: hashed assets forever, the page itself never cached."""

    def __init__(self, app: ASGIApp, services: Sequence[str] = ()) -> None:
        self.app = app
        self.csp = dashboard_csp(services).encode("ascii")

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
                    (b"content-security-policy", self.csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)
