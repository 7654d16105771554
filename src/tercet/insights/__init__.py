"""Insights: label errors, duplicates, outliers and image quality, scored per sample.

:func:`compute` scores one split of a run and writes the scores under it
(``runs/<run>/insights/<split>/``); :meth:`tercet.Run.insights` reads the latest back;
:func:`summary` reads what ``tercet insights`` prints. See ``docs/insights.md``.
"""

from __future__ import annotations

from tercet.insights.compute import CHECKS, compute
from tercet.insights.read import latest_url, similar, summary
from tercet.insights.summary import IssueSummary, Summary

__all__ = ["CHECKS", "IssueSummary", "Summary", "compute", "latest_url", "similar", "summary"]
