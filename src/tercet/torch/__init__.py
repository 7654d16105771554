"""Tables as PyTorch training data (imports torch; ``import tercet`` does not).

:class:`TableDataset` is a table revision as a map-style ``Dataset`` of row dicts;
:class:`TableSampler` draws positions by the ``weight`` column, so samples the dashboard
weighted to 0 are never drawn. Usually reached through :meth:`tercet.Table.as_dataset`,
:meth:`~tercet.Table.map` and :meth:`~tercet.Table.sampler`.
"""

from __future__ import annotations

from tercet.torch.data import TableDataset, TableLike, TableSampler, as_dataset, sampler

__all__ = ["TableDataset", "TableLike", "TableSampler", "as_dataset", "sampler"]
