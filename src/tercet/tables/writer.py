"""``TableWriter``: the public streaming writer, which hands back the new :class:`Table`."""

from __future__ import annotations

from types import TracebackType

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

    def close(self) -> Table:
        """Publish the table and return it (also kept as :attr:`table`)."""
        self.table = Table.open(self.finish())
        return self.table

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
