"""Run ``mutmut run`` with its output in ``mutants.log``, each phase stamped with the wall clock.

mutmut prints a spinner line per phase and per mutant but no times (only generation's), so
whether a run fits its 30 minutes could not be read from the log. This writes mutmut's output
through unchanged and adds a line ``## <ISO time> <phase>`` when a phase starts, and at the end
the wall and CPU time of the whole command (CPU summed over mutmut and every child it waited
for: the fork server and the mutants' test processes). ``scripts/mutation_report.py`` prints
the phases from those lines.

    python scripts/mutation_run.py mutants.log -- mutmut run --max-children 2
"""

from __future__ import annotations

import codecs
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# The titles mutmut 3.8 prints, in order (mutmut/__main__.py `_run`).
PHASES = (
    "Generating mutants",
    "Filtering mutations with type checker",
    "Running stats",
    "Running clean tests",
    "Running forced fail test",
    "Running mutation testing",
)
STAMP = "## "


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    log, command = Path(argv[0]), argv[2:]
    seen: set[str] = set()
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        out.write(f"{STAMP}{now()} start {' '.join(command)}\n")
        # Unbuffered, so that a title reaches the log when mutmut prints it, not 8 KiB later.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        ) as proc:
            assert proc.stdout is not None
            # mutmut redraws its spinner with \r and no newline for minutes: read what is there,
            # not lines, and keep the end of the last chunk so a title split across two is seen.
            tail = ""
            while chunk := decode(os.read(proc.stdout.fileno(), 65536)):
                window = tail + chunk
                for phase in PHASES:
                    if phase not in seen and phase in window:
                        seen.add(phase)
                        out.write(f"\n{STAMP}{now()} {phase}\n")
                out.write(chunk)
                out.flush()
                tail = window[-64:]
            code = proc.wait()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.monotonic() - started
        out.write(
            f"\n{STAMP}{now()} end exit={code} wall={wall:.0f}s "
            f"cpu={usage.ru_utime + usage.ru_stime:.0f}s\n"
        )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
