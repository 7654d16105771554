"""When a run's small files reach the disk: written on the training thread without an fsync,
made durable on the run's writer thread moments later, all of them before the final status.

An fsync per event (parameters, an input, a rank joining, a scalars part) held the training
thread for one journal commit each (~5 ms on this machine's disk, more under load): a tenth of
the time a small Lightning fit spent in Tercet. The file is published atomically either way
(hard link of a complete temp file), so no reader, and no kill of the process, ever sees it
half written; only a crash of the machine in the moment before the writer thread's fsync can
lose it, which leaves the run reading as it did before that event (events are folded and a
missing one is skipped), never a corrupt run.
"""

from __future__ import annotations

import os
import threading

from tercet.runs.background import BackgroundWrites
from tercet.storage import files, is_local

KEY = "durable"
"""The writer-thread key of the sync task (:meth:`tercet.runs.run.Run.wait` waits for it)."""


class PendingSyncs:
    """URLs written without an fsync, synced in batches on the run's writer thread.

    :meth:`add` never blocks on the disk: the first URL queues one task on ``writes``, and URLs
    added while it runs join its next round. :meth:`wait` of ``writes`` (the run's ``wait()``,
    done before every final status) is the barrier; :meth:`sync_now` syncs in the caller.
    """

    def __init__(self, writes: BackgroundWrites) -> None:
        self._writes = writes
        self._lock = threading.Lock()
        self._urls: list[str] = []
        self._queued = False
        self._pid = os.getpid()

    def add(self, url: str) -> None:
        """Make ``url`` durable soon (at once in a forked child, which has no writer thread)."""
        if not is_local(url):
            return  # an object store holds a write once it returns
        if os.getpid() != self._pid:
            files.sync_here([url])
            return
        with self._lock:
            self._urls.append(url)
            if self._queued:
                return
            self._queued = True
        try:
            self._writes.submit(KEY, self._drain)
        except RuntimeError:  # no new threads while the interpreter exits: sync here
            with self._lock:
                self._queued = False
            self.sync_now()

    def sync_now(self) -> None:
        """Sync in the calling thread what the writer thread has not synced yet."""
        with self._lock:
            urls, self._urls = self._urls, []
        if urls:
            files.sync_here(urls)

    def _drain(self) -> None:
        while True:
            with self._lock:
                urls, self._urls = self._urls, []
                if not urls:
                    self._queued = False
                    return
            try:
                files.sync_here(urls)
            except BaseException:
                with self._lock:
                    self._urls[:0] = urls
                    self._queued = False
                raise
