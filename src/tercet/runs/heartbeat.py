"""A daemon thread that ticks every few seconds and beats every ``interval``, so readers can tell
a live run from one whose process died."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Heartbeat(threading.Thread):
    """Calls ``tick(beat)`` every ``tick_seconds`` (at most ``interval``); ``beat`` is true once
    per ``interval``. A failing tick is tried again at the next one."""

    def __init__(
        self, name: str, tick: Callable[[bool], None], interval: float, tick_seconds: float
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._tick = tick
        self._interval = interval
        self._tick_seconds = min(tick_seconds, interval)
        self._stop_event = threading.Event()

    def run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop_event.wait(self._tick_seconds):
            beat = time.monotonic() - last_beat >= self._interval
            try:
                self._tick(beat)
            except Exception:
                continue  # a storage hiccup must not kill the thread: the next tick tries again
            if beat:
                last_beat = time.monotonic()

    def stop(self) -> None:
        self._stop_event.set()
