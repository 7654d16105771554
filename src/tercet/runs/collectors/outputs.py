"""Reading what a model returns, and finding the layer a collector listens to.

Models answer in many shapes: a tensor, a ``(logits, features)`` tuple, a dict, or a Hugging Face
``ModelOutput`` (an ordered dict with attributes). Collectors read them here, so each shape is
handled once and a shape nobody can read gets one error that says what was expected and what came.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tercet.errors import RunError

SCORE_KEYS = ("logits", "scores", "output", "outputs")
"""Keys of a dict-like output that hold class scores, tried in order."""


def is_tensor(value: Any) -> bool:
    """True for a torch tensor (without importing torch)."""
    return hasattr(value, "detach") and hasattr(value, "shape")


def describe(value: Any) -> str:
    """What a model output is, in a few words: ``Tensor (8, 10)``, ``dict with keys [...]``."""
    if is_tensor(value):
        return f"{type(value).__name__} {tuple(value.shape)}"
    if isinstance(value, Mapping):
        return f"{type(value).__name__} with keys {[str(k) for k in value]}"
    if isinstance(value, tuple | list):
        return f"{type(value).__name__} of {len(value)}: [{', '.join(describe(v) for v in value)}]"
    return type(value).__name__


def select_outputs(
    outputs: Any,
    selector: Callable[[Any], Any] | None,
    keys: tuple[str, ...] = SCORE_KEYS,
    who: str = "The collector",
) -> Any:
    """The tensor a collector reads from ``outputs``: ``selector(outputs)`` when given, the tensor
    itself, the first of ``keys`` in a dict or ``ModelOutput``, or the first item of a tuple.

    A dict-like output with none of ``keys`` is a :class:`RunError` naming the keys it has.
    """
    if selector is not None:
        return selector(outputs)
    if is_tensor(outputs):
        return outputs
    if isinstance(outputs, Mapping):
        for key in keys:
            if key in outputs and outputs[key] is not None:
                return outputs[key]
        raise RunError(
            f"{who} expected the model output to hold {' or '.join(map(repr, keys))}; it "
            f"returned {describe(outputs)}. Pass outputs=lambda out: out['<key>'] to pick one."
        )
    if isinstance(outputs, tuple | list) and outputs:
        first = outputs[0]
        return select_outputs(first, None, keys, who) if isinstance(first, Mapping) else first
    return outputs


def first_tensor(output: Any) -> Any:
    """What a forward hook keeps of a layer's output: the tensor, the first item of a tuple, or
    the first tensor of a ``ModelOutput`` (``last_hidden_state``, ``pooler_output`` …)."""
    if is_tensor(output) or output is None:
        return output
    if isinstance(output, Mapping):
        for value in output.values():
            if is_tensor(value):
                return value
        return None
    if isinstance(output, tuple | list) and output:
        return first_tensor(output[0])
    return output


def leaf_layers(model: Any) -> list[tuple[str, Any]]:
    """Modules without children, in registration order: what an integer layer index counts."""
    return [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]


def find_layer(model: Any, layer: str | int | Any) -> tuple[str, Any]:
    """The module ``layer`` names, with its name: a name in ``model.named_modules()``, an index
    into :func:`leaf_layers` (``-1`` the last, ``-2`` the one before), or the module itself."""
    if isinstance(layer, bool):
        raise RunError(f"layer must be a name, an index or a module; not {layer!r}.")
    if isinstance(layer, int):
        leaves = leaf_layers(model)
        if not -len(leaves) <= layer < len(leaves):
            raise RunError(
                f"layer={layer} is out of range: the model has {len(leaves)} leaf layers "
                f"(indices {-len(leaves)} … {len(leaves) - 1})."
            )
        return leaves[layer]
    if isinstance(layer, str):
        named = dict(model.named_modules())
        if layer not in named:
            available = ", ".join(n for n in list(named)[:40] if n)
            raise RunError(
                f"The model has no layer {layer!r}. Layers: {available}"
                f"{' …' if len(named) > 40 else ''}."
            )
        return layer, named[layer]
    name = next((n for n, m in model.named_modules() if m is layer), type(layer).__name__)
    return name, layer


def call_model(model: Any, inputs: Any) -> Any:
    """``model(**inputs)`` for keyword batches (Hugging Face models), else ``model(inputs)``."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)
