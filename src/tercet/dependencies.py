"""Optional dependencies: imported when a feature needs them, with the install command when not
installed. ``import tercet`` never imports any of them."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from tercet.errors import TercetError

EXTRAS: dict[str, str] = {
    "torch": "torch",
    "umap": "umap",
    "pacmap": "umap",
    "s3fs": "s3",
    "transformers": "huggingface",
    "lightning": "lightning",
    "pycocotools": "formats",
    "pycocotools.mask": "formats",
    "pycocotools.coco": "formats",
    "pycocotools.cocoeval": "formats",
    "datasets": "formats",
    "cleanlab": "insights",
    "faiss": "insights",
    "usearch": "insights",
    "imagehash": "insights",
}
"""Optional module -> the extra of ``pip install 'tercet[extra]'`` that installs it."""


def install_hint(module: str) -> str:
    """How to install ``module``: the extra that brings it, else the package itself."""
    extra = EXTRAS.get(module)
    return f"`pip install 'tercet[{extra}]'`" if extra else f"`pip install {module}`"


def require(module: str, feature: str, error: type[TercetError] = TercetError) -> ModuleType:
    """The optional ``module``, imported; ``error`` saying how to install it when it is not."""
    try:
        with warnings.catch_warnings():
            # umap-learn warns at import that its optional TensorFlow backend is missing.
            warnings.simplefilter("ignore", ImportWarning)
            return importlib.import_module(module)
    except ImportError as exc:
        raise error(
            f"{feature} needs the optional package {module!r}: {install_hint(module)}."
        ) from exc
