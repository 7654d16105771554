"""The peak resident memory of a part of a benchmark, sampled from /proc."""

from __future__ import annotations

import os
import threading


class RssPeak:
    """The peak resident memory of this process from now until :meth:`stop`, sampled every
    10 ms from /proc (``ru_maxrss`` still holds the peak of writing the table)."""

    def __init__(self) -> None:
        self.peak = self.start = self._now()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _now() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, self._now())

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak


def current_rss() -> int:
    """This process's resident memory now, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Reset this process's high-water RSS (Linux ``clear_refs`` 5); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """This process's high-water RSS (``VmHWM``) since it started or :func:`reset_peak`."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
