"""The mutation score per module after ``mutmut run`` (``make mutate``), and every survivor.

A mutant is killed when a test failed (or timed out) with it in place, or when strict mypy
rejects it (``make check`` runs mypy in CI, so such a bug cannot land). "no tests" counts against
the score, since a mutant no test reaches is a bug no test would see.

Every survivor must be named in ``docs/testing.md`` with why it is equivalent (no behaviour a
user relies on changes). Exits 1 when a module scores below the target (85%), when the run did
not finish, or when a survivor is not named there, so the make target reports the miss.

When ``mutants.log`` holds the phase stamps ``scripts/mutation_run.py`` writes (``make mutate``
runs mutmut through it), the wall time of each phase and of the whole command is printed too,
against the 30-minute budget.

    python scripts/mutation_report.py [--target 0.85] [--markdown] [--explained docs/testing.md]
                                      [--log mutants.log] [--budget-minutes 30]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
LINE = re.compile(r"^\s*(?P<key>\S+)__mutmut_(?P<n>\d+): (?P<status>.+?)\s*$")
NAMED = re.compile(r"`(?P<name>[\w.ǁ]+__mutmut_\d+)`")
STAMP = re.compile(r"^## (?P<at>\S+) (?P<what>.*)$", re.MULTILINE)
END = re.compile(r"end exit=(?P<exit>-?\d+) wall=(?P<wall>\d+)s cpu=(?P<cpu>\d+)s")


def results(mutmut: str) -> dict[str, dict[str, str]]:
    """``{module: {mutant: status}}`` as ``mutmut results --all true`` reports them."""
    out = subprocess.run(
        [mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    return parse_results(out)


def parse_results(out: str) -> dict[str, dict[str, str]]:
    by_module: dict[str, dict[str, str]] = defaultdict(dict)
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        # tercet.format.x_check_name, tercet.tables.table.xǁTableǁlatest
        module = re.split(r"\.x[_ǁ]", m["key"], maxsplit=1)[0]
        by_module[module][f"{m['key']}__mutmut_{m['n']}"] = m["status"]
    return by_module


def explained(doc: Path) -> set[str]:
    """Mutant names written in backticks in the survivors section of ``doc``."""
    return (
        {m["name"] for m in NAMED.finditer(doc.read_text(encoding="utf-8"))}
        if doc.exists()
        else set()
    )


def phases(log: Path) -> list[tuple[str, float]]:
    """``[(phase, wall seconds)]`` from the stamps in ``log``, the last entry the whole command
    (``"total"``, or ``"so far"`` while it runs); empty when the log has no stamps."""
    if not log.exists():
        return []
    text = log.read_text(encoding="utf-8", errors="replace")
    stamps = [(datetime.fromisoformat(m["at"]), m["what"]) for m in STAMP.finditer(text)]
    if len(stamps) < 2:
        return []
    out = [
        (what, (stamps[i + 1][0] - at).total_seconds())
        for i, (at, what) in enumerate(stamps[:-1])
        if i  # the first stamp is the start: the time before the first title is mutmut's startup
    ]
    last = stamps[-1][1]
    end = END.match(last)
    total = (stamps[-1][0] - stamps[0][0]).total_seconds()
    if end:
        out.append((f"total (exit {end['exit']}, {end['cpu']} s of CPU)", total))
    else:
        # Still running, or stopped: the last phase lasted until the log was last written.
        written = datetime.fromtimestamp(log.stat().st_mtime, tz=stamps[-1][0].tzinfo)
        last_for = max((written - stamps[-1][0]).total_seconds(), 0.0)
        out += [(last, last_for), ("so far (still running or stopped)", total + last_for)]
    return out


def print_phases(rows: list[tuple[str, float]], budget_minutes: float) -> None:
    print("\nWall time of the run's phases (mutants.log):")
    for what, seconds in rows:
        print(f"  {what:58} {int(seconds // 60):3d} min {int(seconds % 60):02d} s")
    total = rows[-1][1]
    verdict = "within" if total <= budget_minutes * 60 else "OVER"
    print(f"  {verdict} the {budget_minutes:g}-minute budget")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--explained", type=Path, default=Path("docs/testing.md"),
                        help="the page naming each accepted survivor")  # fmt: skip
    parser.add_argument("--log", type=Path, default=Path("mutants.log"),
                        help="the run's log, stamped by scripts/mutation_run.py")  # fmt: skip
    parser.add_argument("--budget-minutes", type=float, default=30.0)
    args = parser.parse_args()
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    by_module = results(mutmut)
    if not by_module:
        print("No mutation results: run `mutmut run` (make mutate) first.", file=sys.stderr)
        return 2
    accepted = explained(args.explained)
    rows, missed, unfinished, unexplained = [], [], [], []
    for module, statuses in sorted(by_module.items()):
        counts = Counter(statuses.values())
        killed = sum(counts[s] for s in KILLED)
        pending = counts["not checked"]
        checked = len(statuses) - pending
        score = killed / checked if checked else 0.0
        survived = checked - killed
        rows.append((module, len(statuses), pending, killed, survived, score))
        if pending:
            unfinished.append(module)
        if score < args.target:
            missed.append(module)
        left = [n for n, s in statuses.items() if s not in KILLED and s != "not checked"]
        unexplained += [n for n in left if n not in accepted]
    if args.markdown:
        print("| module | mutants | not run | killed | survived | score |")
        print("|---|---:|---:|---:|---:|---:|")
        for module, n, p, k, s, score in rows:
            print(f"| `{module}` | {n} | {p} | {k} | {s} | {score:.0%} |")
    else:
        print(f"{'module':44} {'mutants':>7} {'not run':>7} {'killed':>6} {'survived':>8} score")
        for module, n, p, k, s, score in rows:
            print(f"{module:44} {n:7} {p:7} {k:6} {s:8} {score:6.0%}")
        print(f"\nSurvivors not named in {args.explained} (`mutmut show NAME` prints the change):")
        for name in unexplained:
            print(f"  {name}: {by_status(by_module, name)}")
    timing = phases(args.log)
    if timing and not args.markdown:
        print_phases(timing, args.budget_minutes)
    failed = False
    if unfinished:
        print(f"\nThe run did not finish: {', '.join(unfinished)}", file=sys.stderr)
        failed = True
    if missed:
        print(f"\nBelow the {args.target:.0%} target: {', '.join(missed)}", file=sys.stderr)
        failed = True
    if unexplained:
        print(f"\n{len(unexplained)} survivors are neither killed nor named in {args.explained}.",
              file=sys.stderr)  # fmt: skip
        failed = True
    return 1 if failed else 0


def by_status(by_module: dict[str, dict[str, str]], name: str) -> str:
    return next(s[name] for s in by_module.values() if name in s)


if __name__ == "__main__":
    sys.exit(main())
