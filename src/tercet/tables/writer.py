"""``TableWriter``: the public streaming writer, which hands back the new :class:`Table`."""

from __future__ import annotations

from tercet.tables.source import SourceWriter
from tercet.tables.table import Table


class TableWriter(SourceWriter):
    """Writes a source table batch by batch; it never holds the whole table in memory.

    The table appears (its ``object.json`` is written) only when the writer closes without error.

    >>> with TableWriter(project="demo", dataset="digits", name="train") as w:  # doctest: +SKIP
    ...     for chunk in chunks:
    ...         w.write(chunk)
    >>> w.table  # doctest: +SKIP
    """

    table: Table | None = None

    def finish(self) -> str:
        """Publish the table (kept as :attr:`table`); returns its folder URL."""
        folder = super().finish()
        self.table = Table.open(folder)
        return folder

    def close(self) -> Table:
        """Publish the table and return it (also kept as :attr:`table`)."""
        self.finish()
        assert self.table is not None
        return self.table
