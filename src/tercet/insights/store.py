"""Insights files: one immutable Parquet file per computation,
``runs/<run>/insights/<split>/<time>-<uid>.parquet`` (names from :mod:`tercet.runs.folder`); the
newest one is the run's current insights. The footer carries the same ``tercet`` header as a
metrics file (input revision, column roles), plus the checks that ran and the summary, so the
Object Service joins the scores to rows like metric columns and serves the summary from one
ranged read.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tercet import storage
from tercet.errors import InsightsError
from tercet.insights.summary import Summary
from tercet.runs import folder
from tercet.runs.metrics import MetricSpec, read_header, write_table

KIND = "tercet.insights"
VERSION = 1


def write(
    run_url: str, split: str, table: pa.Table, header: dict[str, Any], specs: dict[str, MetricSpec]
) -> str:
    """Publish ``table`` as a new insights file of ``split``; returns its URL."""
    url = storage.join(folder.insights_folder(run_url, split), folder.insights_file_name())
    write_table(url, table, {**header, "insights_format": KIND, "insights_version": VERSION}, specs)
    return url


def latest(run_url: str, split: str, run_name: str) -> str:
    """The newest insights file of ``split``; :class:`InsightsError` saying how to make one."""
    url = folder.latest_insights(run_url, split)
    if url is None:
        raise InsightsError(
            f"Run {run_name} has no insights for split {split!r}. Compute them with "
            f"tercet.insights.compute(run, split={split!r}) or `tercet insights <run> --compute`."
        )
    return url


def read(url: str) -> pa.Table:
    return storage.read_parquet(url)


def read_summary(url: str) -> Summary:
    """The summary stored in an insights file's footer (no row is read)."""
    header = read_header(url)
    summary = header.get("summary")
    if header.get("insights_format") != KIND or not isinstance(summary, dict):
        raise InsightsError(f"{url} is not a Tercet insights file (no insights summary).")
    out: Summary = summary  # type: ignore[assignment]
    return out
