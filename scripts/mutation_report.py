"""The mutation score per module after ``mutmut run`` (``make mutate``), and every survivor.

A mutant is killed when a test failed (or timed out) with it in place; "no tests" counts against
the score, since a mutant no test reaches is a bug no test would see. Exits 1 when a module
scores below the target (85%), so the make target reports the miss.

    python scripts/mutation_report.py [--target 0.85] [--markdown]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

KILLED = {"killed", "timeout"}
LINE = re.compile(r"^\s*(?P<key>\S+)__mutmut_(?P<n>\d+): (?P<status>.+?)\s*$")


def results(mutmut: str) -> dict[str, dict[str, str]]:
    """``{module: {mutant: status}}`` as ``mutmut results --all true`` reports them."""
    out = subprocess.run(
        [mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    by_module: dict[str, dict[str, str]] = defaultdict(dict)
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        # tercet.format.x_check_name, tercet.tables.table.xǁTableǁlatest
        module = re.split(r"\.x[_ǁ]", m["key"], maxsplit=1)[0]
        by_module[module][f"{m['key']}__mutmut_{m['n']}"] = m["status"]
    return by_module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    by_module = results(mutmut)
    if not by_module:
        print("No mutation results: run `mutmut run` (make mutate) first.", file=sys.stderr)
        return 2
    rows, missed, unfinished = [], [], []
    for module, statuses in sorted(by_module.items()):
        counts = Counter(statuses.values())
        killed = sum(counts[s] for s in KILLED)
        pending = counts["not checked"]
        checked = len(statuses) - pending
        score = killed / checked if checked else 0.0
        rows.append((module, len(statuses), pending, killed, counts["survived"],
                     counts["no tests"], score))  # fmt: skip
        if pending:
            unfinished.append(module)
        if score < args.target:
            missed.append(module)
    if args.markdown:
        print("| module | mutants | not run | killed | survived | no tests | score of those run |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for module, n, p, k, s, nt, score in rows:
            print(f"| `{module}` | {n} | {p} | {k} | {s} | {nt} | {score:.0%} |")
    else:
        print(f"{'module':44} {'mutants':>7} {'not run':>7} {'killed':>6} {'survived':>8} "
              f"{'no tests':>8} score")  # fmt: skip
        for module, n, p, k, s, nt, score in rows:
            print(f"{module:44} {n:7} {p:7} {k:6} {s:8} {nt:8} {score:6.0%}")
        print("\nSurvivors (`mutmut show NAME` prints the change):")
        for _, statuses in sorted(by_module.items()):
            for name, status in statuses.items():
                if status not in KILLED and status != "not checked":
                    print(f"  {name}: {status}")
    if unfinished:
        print(f"\nThe run did not finish: {', '.join(unfinished)}", file=sys.stderr)
    if missed or unfinished:
        print(f"\nBelow the {args.target:.0%} target: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
