"""Map-style PyTorch datasets in: ``(image, label, …)`` tuples or dict samples.

Images — PIL images anywhere in a sample, and tensors or arrays in a column whose role is
``image`` — are written once as PNG files under ``image_dir`` (default
``<project>/datasets/<dataset>/files/<name>/``, then stored relative to the table) and referenced
by URL; everything else is stored as a value.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import format, layout, storage
from tercet.errors import SchemaError
from tercet.tables.source import SourceWriter


def _names(
    sample: Any, i: int, columns: Sequence[str] | Mapping[str, str] | None
) -> dict[str, Any]:
    """One sample as ``{column: value}``, renamed or named by ``columns``."""
    if isinstance(sample, Mapping):
        item = {str(k): v for k, v in sample.items()}
        if isinstance(columns, Mapping):
            item = {columns.get(k, k): v for k, v in item.items()}
        elif columns is not None:
            missing = [c for c in columns if c not in item]
            if missing:
                raise SchemaError(f"Sample {i} has no keys {missing}; it has {sorted(item)}.")
            item = {c: item[c] for c in columns}
        return item
    if isinstance(sample, tuple | list):
        names = list(columns) if isinstance(columns, Sequence) else ["image", "label"]
        if len(sample) > len(names):
            raise SchemaError(
                f"Sample {i} has {len(sample)} parts but columns= names {len(names)} "
                f"({', '.join(names)}); pass a name for each part."
            )
        return dict(zip(names, sample, strict=False))
    raise SchemaError(
        f"Sample {i} is a {type(sample).__name__}; a dataset must return tuples "
        "(image, label, …) or dicts."
    )


def _value(value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray | np.generic):
        return value.item() if value.ndim == 0 else value.tolist()
    return value


def from_torch_dataset(
    data: Any,
    project: str,
    dataset: str,
    name: str,
    class_names: list[str] | None = None,
    image_dir: str | None = None,
    root: str | None = None,
    batch_rows: int = 4096,
    columns: Sequence[str] | Mapping[str, str] | None = None,
    roles: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> str:
    """Create a table from a map-style PyTorch dataset; returns its folder URL.

    ``columns`` names the parts of tuple samples (default ``("image", "label")``), or renames
    (a mapping) or picks (a list) the keys of dict samples. ``roles`` sets column roles; a
    tensor column with role ``image`` is written as images. ``class_names`` is the value map of
    the ``label`` column (or of the one column whose role is ``label``).
    """
    from PIL import Image

    roles = dict(roles or {})
    label_col = next((c for c, r in roles.items() if r == "label"), "label")
    value_maps = {label_col: class_names} if class_names else {}
    value_maps.update(kwargs.pop("value_maps", {}))
    image_cols: set[str] = {c for c, r in roles.items() if r == "image"}
    with SourceWriter(project, dataset, name, root=root, roles=roles, value_maps=value_maps,
                      **kwargs) as w:  # fmt: skip
        # The writer's names: if_exists="new" may have picked another than ``name``.
        name = w.name
        files = image_dir or storage.join(
            layout.project_url(project, root), format.DATASETS, w.dataset, "files", name
        )
        rows: list[dict[str, Any]] = []
        first = 0
        for i in range(len(data)):
            item = _names(data[i], i, columns)
            if i == 0:
                image_cols |= {k for k, v in item.items() if isinstance(v, Image.Image)}
                if not roles and "image" in item and not isinstance(item["image"], str):
                    image_cols.add("image")
                for c in image_cols:
                    w.roles.setdefault(c, "image")
                if label_col in item and label_col not in roles:
                    w.roles[label_col] = "label"
            row: dict[str, Any] = {}
            for k, v in item.items():
                if k in image_cols and v is not None and not isinstance(v, str):
                    pil = v if isinstance(v, Image.Image) else to_pil(v)
                    buf = io.BytesIO()
                    pil.save(buf, format="PNG")
                    file = f"{i:07d}.png" if len(image_cols) == 1 else f"{k}-{i:07d}.png"
                    url = storage.join(files, file)
                    if not storage.exists(url):
                        storage.write_bytes(url, buf.getvalue())
                    row[k] = url if image_dir else f"../../files/{name}/{file}"
                elif isinstance(v, Image.Image):
                    raise SchemaError(f"Sample {i}: {k!r} is an image, but its role is not image.")
                else:
                    row[k] = _value(v)
            rows.append(row)
            if len(rows) >= batch_rows or i == len(data) - 1:
                try:
                    w.write(rows)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise SchemaError(
                        f"Samples {first}–{i} cannot be stored ({exc}); give each column one "
                        "type (numbers, strings, lists of numbers) or set its role."
                    ) from exc
                rows, first = [], i + 1
    return w.folder


def to_pil(image: Any) -> Any:
    """A CHW/HWC/HW tensor or array (uint8, or floats in [0, 1]) as a PIL image."""
    from PIL import Image

    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 if hi <= 1.0 and lo >= 0.0 else 1.0
        arr = np.clip(arr * scale, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)
