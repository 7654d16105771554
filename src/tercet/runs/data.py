"""Deprecated: the PyTorch bridge is :mod:`tercet.torch`."""

from __future__ import annotations

from tercet import torch as _bridge
from tercet._deprecated import forward

__getattr__ = forward(
    __name__,
    {
        name: (getattr(_bridge, name), f"tercet.torch.{name}")
        for name in ("TableDataset", "TableSampler", "as_dataset", "sampler")
    },
)
