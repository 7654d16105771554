"""Embeddings from a named layer (or the model output), for 2-D/3-D projections."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tercet.errors import RunError
from tercet.runs.collectors import outputs as outputs_mod
from tercet.runs.collectors.base import (
    Batch,
    CollectContext,
    Collector,
    to_numpy,
)
from tercet.runs.metrics import MetricSpec


class EmbeddingCollector(Collector):
    """Per-sample embeddings captured from a named layer by a forward hook.

    Parameters
    ----------
    layer
        Name in ``model.named_modules()`` (``"backbone.layer4"``), index among the model's leaf
        layers (``-2``: the one before the last), or the module itself; ``None`` takes the model's
        outputs.
    name
        Column name (default ``embedding``).
    pool
        ``"mean"`` averages every axis after the second (the spatial axes of an N×C×H×W feature
        map), ``"max"`` takes their maximum, ``"flatten"`` keeps everything, ``"none"`` requires
        N×D; or a function of the captured tensor. For N×T×C sequences pass
        ``pool=lambda x: x.mean(1)``.
    """

    def __init__(
        self,
        layer: str | int | Any | None = None,
        *,
        name: str = "embedding",
        pool: str | Callable[[Any], Any] = "mean",
    ) -> None:
        if isinstance(pool, str) and pool not in ("mean", "max", "flatten", "none"):
            raise RunError(
                f"pool must be 'mean', 'max', 'flatten', 'none' or a function; not {pool!r}."
            )
        self.layer = layer
        self.name = name
        self.pool = pool
        self._captured: Any = None
        self._handle: Any = None
        self._layer_name: str | None = None

    def start(self, context: CollectContext) -> None:
        self._captured = None
        if self.layer is None:
            return
        self._layer_name, module = outputs_mod.find_layer(context.model, self.layer)
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module: Any, inputs: Any, output: Any) -> None:
        # The last call wins when a module runs several times in one forward pass.
        self._captured = outputs_mod.first_tensor(output)

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        captured = (
            outputs_mod.select_outputs(outputs, None, ("embedding", "pooler_output", "logits"),
                                       "EmbeddingCollector")
            if self.layer is None
            else self._captured
        )  # fmt: skip
        self._captured = None
        if captured is None:
            raise RunError(
                f"Layer {self._layer_name!r} did not run in the model's forward pass; pick a layer "
                "that does."
            )
        x = captured.detach()
        if callable(self.pool):
            x = self.pool(x)
        elif x.ndim > 2:
            if self.pool == "mean":
                x = x.flatten(2).mean(2)
            elif self.pool == "max":
                x = x.flatten(2).amax(2)
            elif self.pool == "flatten":
                x = x.flatten(1)
            else:
                raise RunError(
                    f"Layer {self._layer_name!r} outputs shape {tuple(x.shape)}; with pool='none' "
                    "it must be (batch, features). Use pool='mean' or 'flatten'."
                )
        values = to_numpy(x).astype(np.float32, copy=False)
        if values.ndim != 2:
            raise RunError(f"Embeddings must be (batch, features); got shape {values.shape}.")
        return {self.name: values}

    def specs(self) -> dict[str, MetricSpec]:
        extra: dict[str, Any] = {"pool": self.pool if isinstance(self.pool, str) else "custom"}
        if self._layer_name is not None:
            extra["layer"] = self._layer_name
        return {self.name: MetricSpec("embedding", None, extra)}

    def finish(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._captured = None
