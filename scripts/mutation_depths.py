"""Measure what mutmut's ``max_stack_depth`` would cut, from one stats pass, before setting it.

With ``max_stack_depth = N`` mutmut maps a mutated function only to the tests that reach it
through fewer than N frames of Tercet code (counted from the call back to the test, or to the
bottom of a thread's stack). A function then reached by no test has "no tests" mutants, which
count against the score, and a mutant whose only killer is cut survives. This records, in
mutmut's own stats pass, the fewest Tercet frames between each test and each mutated function,
then prints for each N how many tests and seconds each function keeps and which lose all.

    python scripts/mutation_depths.py run [mutmut run arguments]   # writes mutants/depths.json
    python scripts/mutation_depths.py report [N ...]                # reads it

The first form is ``mutmut run`` with the recording added (the run itself is unchanged: stop it
once "Running clean tests" shows, the stats are saved by then). What it cannot say is whether a
cut test was a mutant's only killer: that needs the same subset run with and without the setting.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

OUT = Path("mutants/depths.json")


def record() -> None:
    import mutmut.__main__ as cli_module
    import mutmut.mutation.trampoline as trampoline
    import mutmut.runners.harness as harness
    import mutmut.stats as stats
    from mutmut.configuration import config

    depths: dict[str, int] = {}
    unresolvable: set[str] = set()
    original = stats.record_trampoline_hit

    def hit(name: str, caller: str | None = None) -> None:
        roots = config().resolved_mutated_source_paths
        frame = inspect.currentframe()
        frame = frame.f_back if frame else None
        depth = 0
        # the walk of mutmut's stats.record_trampoline_hit, counting instead of stopping
        while frame:
            filename = frame.f_code.co_filename
            frame = frame.f_back
            if "pytest" in filename or "hammett" in filename or "unittest" in filename:
                break
            try:
                path = Path(filename).resolve(strict=True)
            except OSError:
                # "<string>" frames (a dataclass __init__): mutmut's own walk raises here, so
                # max_stack_depth would fail the stats pass if the report lists any
                unresolvable.add(filename)
                continue
            if any(root in path.parents for root in roots):
                depth += 1
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
        key = f"{name}\t{test}"
        depths[key] = min(depth, depths.get(key, depth))
        original(name, caller)

    stats.record_trampoline_hit = hit
    trampoline.record_trampoline_hit = hit  # type: ignore[attr-defined]
    save = stats.save_stats

    def save_both() -> None:
        save()
        data = {"depths": depths, "unresolvable_frames": sorted(unresolvable)}
        OUT.write_text(json.dumps(data), encoding="utf-8")

    harness.save_stats = save_both  # type: ignore[attr-defined]
    cli_module.save_stats = save_both  # type: ignore[attr-defined]


def report(limits: list[int]) -> None:
    data = json.loads(OUT.read_text(encoding="utf-8"))
    depths: dict[str, int] = data["depths"]
    if data["unresolvable_frames"]:
        print(f"frames mutmut's walk cannot resolve: {data['unresolvable_frames']}\n")
    duration: dict[str, float] = json.loads(Path("mutants/mutmut-stats.json").read_text())[
        "duration_by_test"
    ]
    by_function: dict[str, dict[str, int]] = defaultdict(dict)
    for key, depth in depths.items():
        function, test = key.split("\t")
        by_function[function][test.removeprefix("mutants/")] = depth
    for limit in limits:
        print(f"max_stack_depth = {limit}: tests (seconds) each function keeps")
        lost = []
        for function, tests in sorted(by_function.items()):
            kept = [t for t, d in tests.items() if d < limit]
            seconds = sum(duration.get(t, 0.0) for t in kept)
            full = sum(duration.get(t, 0.0) for t in tests)
            print(f"  {function:60} {len(kept):4}/{len(tests):4} ({seconds:6.1f}/{full:6.1f} s)")
            if not kept:
                lost.append(function)
        print(f"  reached by no test: {', '.join(lost) or 'none'}\n")


def main(argv: list[Any]) -> None:
    if argv[:1] == ["run"]:
        record()
        from mutmut.__main__ import cli

        sys.argv = ["mutmut", *argv]
        cli()
    elif argv[:1] == ["report"]:
        report([int(n) for n in argv[1:]] or [2, 3, 4, 6])
    else:
        print(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
