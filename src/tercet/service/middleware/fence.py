"""Every request runs inside the service's fence (:mod:`tercet.storage.fence`): whatever URL the
route resolves — named by the client or stored in an object — storage refuses it outside the
roots. Set here, around every route (including any added later), so none can forget it."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tercet import storage


class FenceMiddleware:
    """Runs the app with ``fence`` active; its tasks and threads (``anyio.to_thread``, which
    FastAPI runs sync routes and streamed bodies on) inherit it."""

    def __init__(self, app: ASGIApp, fence: storage.Fence) -> None:
        self.app = app
        self.fence = fence

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with storage.fenced(self.fence):
            await self.app(scope, receive, send)
