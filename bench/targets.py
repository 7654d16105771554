"""The targets of a benchmark: each figure recorded with its baseline, ratio and target, printed
as one table, and the exit status that says whether every target held.

Used by the ``bench_*.py`` scripts (``make bench`` fails when one exits non-zero)::

    targets = Targets("core, 1,000,000 rows")
    targets.ratio("write", tercet_s, raw_s, at_most=1.3, baseline_is="pyarrow.parquet")
    targets.at_most("bytes of a 3-row edit", written, 4096, unit="B")
    return targets.report()          # prints the table; 1 when a target was missed

A missed target is printed as MISSED and named again on the last line, so a log read from the
bottom says what failed. ``BENCH_NO_TARGETS=1`` keeps the exit status 0 (for exploring sizes
the targets were not set for).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    """One measured figure and what it was held against."""

    name: str
    value: float
    unit: str
    kind: Literal["ratio", "at_most", "at_least", "info"]
    target: float | None = None
    baseline: float | None = None
    baseline_is: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """True/False against the target; None for a figure printed without one."""
        if self.kind == "info" or self.target is None:
            return None
        if self.kind == "ratio":
            ratio = self.ratio
            return ratio is not None and ratio <= self.target
        if self.kind == "at_most":
            return self.value <= self.target
        return self.value >= self.target

    def target_text(self) -> str:
        if self.target is None:
            return ""
        sign = {"ratio": "≤", "at_most": "≤", "at_least": "≥"}.get(self.kind, "")
        suffix = "x" if self.kind == "ratio" else f" {self.unit}".rstrip()
        return f"{sign} {_num(self.target)}{suffix}"


def _num(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


class Targets:
    """The figures of one benchmark run, in the order they were recorded."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.figures: list[Figure] = []

    def ratio(
        self,
        name: str,
        value: float,
        baseline: float,
        at_most: float,
        unit: str = "s",
        baseline_is: str = "",
    ) -> bool:
        """``value / baseline`` must be at most ``at_most``; True when it is."""
        return self._add(Figure(name, value, unit, "ratio", at_most, baseline, baseline_is))

    def at_most(
        self,
        name: str,
        value: float,
        limit: float,
        unit: str = "s",
        baseline: float | None = None,
        baseline_is: str = "",
    ) -> bool:
        """``value`` must be at most ``limit``; True when it is."""
        return self._add(Figure(name, value, unit, "at_most", limit, baseline, baseline_is))

    def at_least(
        self,
        name: str,
        value: float,
        limit: float,
        unit: str = "",
        baseline: float | None = None,
        baseline_is: str = "",
    ) -> bool:
        """``value`` must be at least ``limit``; True when it is."""
        return self._add(Figure(name, value, unit, "at_least", limit, baseline, baseline_is))

    def info(
        self, name: str, value: float, unit: str = "s", baseline: float | None = None,
        baseline_is: str = "",
    ) -> None:  # fmt: skip
        """A figure printed next to its baseline, with no target."""
        self._add(Figure(name, value, unit, "info", None, baseline, baseline_is))

    def _add(self, figure: Figure) -> bool:
        self.figures.append(figure)
        return figure.met is not False

    @property
    def missed(self) -> list[Figure]:
        return [f for f in self.figures if f.met is False]

    def report(self, console: Console | None = None) -> int:
        """Print every figure; the exit status: 1 when a target was missed, else 0."""
        console = console or Console(width=max(Console().width, 140))
        table = Table(title=escape(self.title))
        for col in ("figure", "measured", "baseline", "baseline is", "ratio", "target", ""):
            table.add_column(col, justify="right" if col in ("measured", "ratio") else "left")
        for f in self.figures:
            ratio = f.ratio
            verdict = {True: "[green]ok[/]", False: "[bold red]MISSED[/]", None: ""}[f.met]
            table.add_row(
                escape(f.name),
                escape(f"{_num(f.value)} {f.unit}".rstrip()),
                escape(f"{_num(f.baseline)} {f.unit}".rstrip()) if f.baseline is not None else "",
                escape(f.baseline_is),
                f"{ratio:.2f}x" if ratio is not None else "",
                escape(f.target_text()),
                verdict,
            )
        console.print(table)
        missed = self.missed
        if not missed:
            console.print(f"all {sum(f.met is True for f in self.figures)} targets met")
            return 0
        names = ", ".join(f.name for f in missed)
        console.print(f"[bold red]MISSED TARGETS[/]: {escape(names)}")
        return 0 if os.environ.get("BENCH_NO_TARGETS") == "1" else 1
