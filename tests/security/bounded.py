"""Run Python code or the ``tercet`` command in a child process under an address-space cap, and
report the child's own peak memory.

The peak is the child's ``VmHWM`` read by itself at exit: ``ru_maxrss`` would also count the
memory of this (large) test process, which the child shares between ``fork`` and ``exec``."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Far above what these tests need (~200 MiB with the service loaded), far below what a resource
# bomb takes: under the cap a bomb fails inside the child instead of taking the machine's memory.
ADDRESS_SPACE_CAP = 1536 * 1024 * 1024
REPO = Path(__file__).resolve().parents[2]
TERCET = ["-c", "from tercet.cli import main; main()"]
_PEAK_ENV = "TERCET_TEST_PEAK_FILE"
# Runs the code given after it (as ``python -c code args…`` would) and writes VmHWM at exit.
_BOOT = f"""
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["{_PEAK_ENV}"], "w") as out:
        out.write(kib)
atexit.register(_peak)
code = sys.argv[1]
sys.argv = ["-c", *sys.argv[2:]]
exec(compile(code, "<string>", "exec"), {{"__name__": "__main__"}})
"""


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    max_rss: int  # bytes: the peak resident memory of the child (VmHWM)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def run(argv: list[str], timeout: float = 120) -> Finished:
    """``python -c code args…`` (``argv`` = ``["-c", code, *args]``) with this test's environment
    (config file, root) under the cap."""
    assert argv[0] == "-c", "run() takes python -c code"
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as peak,
    ):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", _PEAK_ENV: peak.name}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")) if p
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, *argv[1:]],
            stdout=out,
            stderr=err,
            env=env,
            preexec_fn=_cap,
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.seek(0)
        err.seek(0)
        written = peak.read().strip()
        return Finished(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            int(written) * 1024 if written else 1 << 62,  # no report: count as unbounded
        )
