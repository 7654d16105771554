"""Tables: versioned datasets as immutable revisions with sparse edits.

- :mod:`~tercet.tables.table`: :class:`Table`, one revision (reading, lineage, latest, edits);
- :mod:`~tercet.tables.edit`: :class:`Edit`, changes collected into one new revision;
- :mod:`~tercet.tables.delta`: how a revision's edits are stored and applied;
- :mod:`~tercet.tables.source`, :mod:`~tercet.tables.writer`: writing source tables;
- :mod:`~tercet.tables.ingest`: Parquet, CSV, image folders, COCO and torch datasets in;
- :mod:`~tercet.tables.usage`: who is told when a revision becomes training data.
"""

from __future__ import annotations

from tercet.tables.edit import Edit
from tercet.tables.table import Table, list_tables
from tercet.tables.writer import TableWriter

__all__ = ["Edit", "Table", "TableWriter", "list_tables"]
