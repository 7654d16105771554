"""Run Python code or the ``tercet`` command in a child process under an address-space cap, and
report the child's own peak memory (``ru_maxrss`` from ``wait4``, not the sum of all children)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Far above what these tests need (~200 MiB with the service loaded), far below what a resource
# bomb takes: under the cap a bomb fails inside the child instead of taking the machine's memory.
ADDRESS_SPACE_CAP = 1536 * 1024 * 1024
REPO = Path(__file__).resolve().parents[2]
TERCET = ["-c", "from tercet.cli import main; main()"]


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    max_rss: int  # bytes

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def run(argv: list[str], timeout: float = 120) -> Finished:
    """``python argv…`` with this test's environment (config file, root) under the cap."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, *argv], stdout=out, stderr=err, env=env, preexec_fn=_cap
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_maxrss * 1024,  # Linux reports KiB
        )
