"""Live updates: index changes fanned out to every open ``GET /api/events`` stream (SSE)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from tercet.service.models import IndexEvent

PING_SECONDS = 15
_CLOSE = None


class EventBus:
    """Publish from any thread; each subscriber gets its own queue on its event loop."""

    def __init__(self) -> None:
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[IndexEvent | None]]]
        self._subscribers = set()
        self._lock = threading.Lock()
        self.closed = False

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[IndexEvent | None]]:
        """A new queue on the running event loop that receives every published event."""
        sub = (asyncio.get_running_loop(), asyncio.Queue[IndexEvent | None](maxsize=1000))
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(
        self, sub: tuple[asyncio.AbstractEventLoop, asyncio.Queue[IndexEvent | None]]
    ) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def publish(self, events: Sequence[IndexEvent | None]) -> None:
        """Deliver ``events`` to every subscriber (``None`` ends a stream); thread-safe."""
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            for event in events:
                try:
                    loop.call_soon_threadsafe(_put, queue, event)
                except RuntimeError:  # that loop has closed
                    self.unsubscribe((loop, queue))

    def close(self) -> None:
        """End every open stream (called before the server stops, so shutdown does not wait)."""
        self.closed = True
        self.publish([_CLOSE])


def _put(queue: asyncio.Queue[IndexEvent | None], event: IndexEvent | None) -> None:
    if queue.full() and event is not _CLOSE:
        return  # a client that stopped reading loses events, not the server's memory
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)


router = APIRouter()


@router.get(
    "/api/events",
    tags=["live"],
    summary="Server-sent events: index changes",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "`event: index` with IndexEvent JSON data; a ping comment every 15 s.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def events(request: Request) -> EventSourceResponse:
    """Stream ``event: index`` messages whenever the index sees a change."""
    bus: EventBus = request.app.state.ctx.bus

    async def stream() -> AsyncIterator[ServerSentEvent]:
        sub = bus.subscribe()
        try:
            # Tells the client the stream is live before the first change arrives.
            yield ServerSentEvent(comment="connected")
            while not bus.closed:
                event = await sub[1].get()
                if event is None:
                    break
                yield ServerSentEvent(event="index", data=event.model_dump_json(exclude_none=True))
        finally:
            bus.unsubscribe(sub)

    return EventSourceResponse(stream(), ping=PING_SECONDS, headers={"Cache-Control": "no-store"})
