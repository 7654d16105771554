# Over 400 lines: Table is the documented face of a revision; its parts live beside it.
"""Tables: immutable, URL-addressable revisions of a dataset, with sparse edits and lineage."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tercet import aliases, format, layout, storage
from tercet.errors import CorruptObjectError, ObjectNotFoundError, SchemaError
from tercet.schema import ID_COLUMN, Schema
from tercet.tables import delta as delta_mod
from tercet.tables import ingest, source
from tercet.tables.edit import Edit

if TYPE_CHECKING:
    import pandas as pd

    from tercet.tables.rewrite import RewriteResult
    from tercet.torch import TableDataset, TableSampler

_descriptor_cache: dict[str, dict[str, Any]] = {}
_cache_lock = threading.Lock()


def read_descriptor(folder: str) -> dict[str, Any]:
    """``object.json`` of the revision in ``folder``, checked; kept forever once read, since
    objects are immutable (a descriptor read before a fence was active is fenced all the same)."""
    url = format.descriptor_url(folder)
    storage.guard(url)
    with _cache_lock:
        cached = _descriptor_cache.get(folder)
    if cached is not None:
        return cached
    try:
        data = storage.read_json(url)
    except ObjectNotFoundError:
        raise ObjectNotFoundError(
            f"No table at {folder}: {url} does not exist. Check the URL, or list tables with "
            "`tercet ls`."
        ) from None
    checked = format.check_descriptor("table", data, url)
    with _cache_lock:
        _descriptor_cache[folder] = checked
    return checked


class Table:
    """One immutable revision of a table.

    Open one with :meth:`Table.open` or create one with :meth:`Table.create` and the ``from_*``
    constructors. Edit methods (:meth:`set_values`, :meth:`delete_rows`, :meth:`set_weights`, …)
    never change this revision: each writes a new sparse revision and returns it.
    """

    def __init__(self, folder: str, descriptor: dict[str, Any]) -> None:
        self.url = folder
        self._d = descriptor
        self.schema = Schema.from_json(descriptor["schema"], where=format.descriptor_url(folder))
        self._arrow: pa.Table | None = None
        self._lock = threading.Lock()

    # `make mutate` covers how a revision is read and which one is the latest; the constructors,
    # metadata and edit/lineage wrappers marked below delegate to modules mutated on their own
    # (edit, delta, lineage rules in format) or to importers (docs/testing.md says why).
    # pragma: no mutate start
    # -- opening and creating --------------------------------------------------------------
    @classmethod
    def open(
        cls, url: str | None = None, *, project: str | None = None, dataset: str | None = None,
        name: str | None = None, root: str | None = None,
    ) -> Table:  # fmt: skip
        """Open the revision at ``url`` (its folder or its ``object.json``; aliases allowed), or
        the table ``name`` of ``project``/``dataset`` (display names or folder names; see
        :func:`tercet.tables.names.find`): its source revision, whose :meth:`latest` is the
        table's newest edit."""
        if url is None:
            from tercet.tables import names

            folder = names.find(project, dataset, name, root)
        else:
            if project is not None or dataset is not None or name is not None:
                raise TypeError("Table.open takes a url or project=, dataset=, name=; not both.")
            folder = format.object_folder(aliases.expand(url))
        return cls(folder, read_descriptor(folder))

    @classmethod
    def create(cls, data: Any, project: str, dataset: str, name: str, **kwargs: Any) -> Table:
        """Create a source table from a DataFrame, Arrow table, dict of columns or list of rows.

        Parameters
        ----------
        data
            The rows. ``example_id`` (unique int64) and ``weight`` (float32, 1.0) are added
            when missing; pandas categoricals become labels with a value map.
        project, dataset, name
            Where the table lives: ``<root>/<project>/datasets/<dataset>/tables/<name>``.
        schema, roles, value_maps, root, message
            Optional explicit schema, column roles (``{"path": "image"}``), label value maps
            (``{"label": ["cat", "dog"]}``), project root URL and a message.
        """
        return cls.open(source.create(data, project, dataset, name, **kwargs))

    @classmethod
    def from_parquet(cls, path: str, **kwargs: Any) -> Table:
        """A source table from a Parquet file, read batch by batch (see :meth:`create`)."""
        return cls.open(ingest.from_parquet(path, **kwargs))

    @classmethod
    def from_csv(cls, path: str, **kwargs: Any) -> Table:
        """A source table from a CSV file, streamed in blocks (see :meth:`create`)."""
        return cls.open(ingest.from_csv(path, **kwargs))

    @classmethod
    def from_image_folder(cls, folder: str, **kwargs: Any) -> Table:
        """One row per image of ``folder/<class>/x.png``: ``image``, ``label``, ``width``,
        ``height`` (see :meth:`create`)."""
        return cls.open(ingest.from_image_folder(folder, **kwargs))

    @classmethod
    def from_coco(cls, annotations: str, images_dir: str, **kwargs: Any) -> Table:
        """One row per image of a COCO file: ``boxes`` (xyxy, category names as the value map),
        ``iscrowd``, ``masks`` (polygons and RLE) and ``keypoints`` (names and skeleton in the
        schema) aligned with them; images referenced under ``images_dir`` (see :meth:`create`)."""
        return cls.open(ingest.from_coco(annotations, images_dir, **kwargs))

    @classmethod
    def from_torch_dataset(cls, data: Any, **kwargs: Any) -> Table:
        """A source table from a map-style PyTorch dataset of ``(image, label, …)`` or dict
        samples; ``columns=`` names tuple parts or renames dict keys, ``roles=`` sets roles; PIL
        images (and tensors in image columns) are written as PNG files and referenced by URL."""
        return cls.open(ingest.from_torch_dataset(data, **kwargs))

    # -- dataset formats in and out (tercet.tables.importers, tercet.tables.exporters) --------
    @classmethod
    def from_yolo(cls, data_yaml: str, split: str = "train", task: str | None = None,
                  **kwargs: Any) -> Table:  # fmt: skip
        """One split of a YOLO dataset (Ultralytics layout): one row per image with ``boxes``,
        and per task ``masks`` (segment), ``keypoints`` (pose) or ``obb`` (oriented boxes);
        coordinates in pixels, images referenced where they are. ``task`` is inferred from
        ``data.yaml`` and the labels when left out. The table is named after the split unless
        ``name=`` is given; ``project=`` and ``dataset=`` as for :meth:`create`."""
        from tercet.tables.importers.yolo import from_yolo

        return cls.open(from_yolo(data_yaml, split, task, **kwargs))

    @classmethod
    def from_hugging_face(cls, data: Any, split: str | None = None, **kwargs: Any) -> Table:
        """A Hugging Face dataset (a ``Dataset``, ``DatasetDict``, a ``save_to_disk`` folder or a
        name): ``Image`` → image URLs, ``ClassLabel`` → labels with value maps, objects with
        ``bbox`` → ``boxes`` (``bbox_format="xywh"|"xyxy"|"cxcywh"``). Image bytes are written
        once to ``image_dir=`` (default: the dataset's ``files/<name>/`` folder); see
        ``docs/formats.md``."""
        from tercet.tables.importers.huggingface import from_hugging_face

        return cls.open(from_hugging_face(data, split, **kwargs))

    def export(
        self,
        url: str,
        format: str | None = None,
        weight_threshold: float | None = 0.0,
        images: str | None = None,
        *,
        latest: bool = True,
        split: str | None = None,
        overwrite: bool = False,
        progress: bool = False,
    ) -> str:
        """Write the rows to ``url`` as ``format`` (``"coco"``, ``"yolo"``, ``"csv"``,
        ``"jsonl"``, ``"parquet"``; guessed from the suffix, a folder being YOLO).

        Parameters
        ----------
        url
            A ``.json`` file for COCO, a folder for YOLO, a file for the others.
        weight_threshold
            Rows whose weight is not above it stay out (0 weights by default); None keeps all.
        images
            ``"reference"``: absolute image URLs (aliases expanded); ``"relative"``: relative to
            the exported file; ``"copy"``: copied beside it (YOLO's only mode, its default).
        latest
            Export the latest revision (deleted rows out, edits in), not this one.
        split
            YOLO: the split this table becomes (default: its name when train/val/test).
        overwrite
            Replace existing files instead of raising :class:`~tercet.errors.ExportError`.

        Returns the URL written (``data.yaml`` for YOLO).
        """
        from tercet.tables.exporters import export

        table = self.latest() if latest else self
        return export(table, url, format, weight_threshold, images, split=split,
                      overwrite=overwrite, progress=progress)  # fmt: skip

    # -- metadata ----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The revision's unique id."""
        return str(self._d["id"])

    @property
    def name(self) -> str:
        """The revision's folder name (the table's name for its source)."""
        return str(self._d["name"])

    @property
    def table_name(self) -> str:
        """The table's name, the same for its source and all its revisions."""
        return str(self._d["table"])

    @property
    def project(self) -> str:
        """The project it belongs to."""
        return str(self._d.get("project", ""))

    @property
    def dataset(self) -> str:
        """The dataset it belongs to."""
        return str(self._d.get("dataset", ""))

    @property
    def created(self) -> datetime:
        """When it was written (UTC)."""
        return datetime.fromisoformat(self._d["created"])

    @property
    def message(self) -> str:
        """What its author said of it."""
        return str(self._d.get("message") or "")

    @property
    def num_rows(self) -> int:
        """Rows in this revision."""
        return int(self._d["num_rows"])

    @property
    def descriptor(self) -> dict[str, Any]:
        """A copy of this revision's ``object.json``."""
        return dict(self._d)

    @property
    def project_url(self) -> str:
        """The folder of its project."""
        # <project>/datasets/<dataset>/tables/<revision>
        return format.project_of(self.url, "table")

    @property
    def parent_url(self) -> str | None:
        """The absolute URL of the revision it was derived from (None for a source); a parent
        outside this revision's project is a :class:`~tercet.errors.CorruptObjectError`."""
        parent = self._d.get("parent")
        if not parent:
            return None
        return format.check_reference(parent, self.url, "table", "parent")

    @property
    def parent(self) -> Table | None:
        """The revision it was derived from (None for a source)."""
        url = self.parent_url
        return Table.open(url) if url else None

    @property
    def is_source(self) -> bool:
        """True for a source table (rows of its own, no parent)."""
        return "rows" in self._d

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"Table({self.url!r}, rows={self.num_rows})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Table) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into DataLoader workers: ship the descriptor, not the cached rows.
        return {"url": self.url, "d": self._d}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["d"])  # type: ignore[misc]

    # pragma: no mutate end
    # -- reading ------------------------------------------------------------------------------
    def lineage(self) -> list[Table]:
        """Revisions from the source table down to this one."""
        chain: list[Table] = [self]
        seen = {self.id}
        while chain[-1].parent_url is not None:
            parent = chain[-1].parent
            assert parent is not None
            if parent.id in seen:
                raise CorruptObjectError(f"{self.url}: the parent chain loops at {parent.url}.")
            seen.add(parent.id)
            chain.append(parent)
        return chain[::-1]

    def _delta(self) -> delta_mod.Delta:
        spec = self._d.get("delta") or {}
        where = format.descriptor_url(self.url)
        if spec.get("file"):
            url = format.check_reference(spec["file"], self.url, "table", "delta")
            table = storage.read_parquet(url)
            return delta_mod.Delta.from_parquet_table(table, list(spec.get("added_columns", [])))
        return delta_mod.Delta.from_json(spec, self.schema, where)

    def _rows_files(self) -> list[str]:
        rows = self._d["rows"]
        if not isinstance(rows, list):
            raise CorruptObjectError(
                f"{format.descriptor_url(self.url)}: 'rows' is {rows!r}, not a list of files."
            )
        return [format.check_reference(f, self.url, "table", "rows") for f in rows]

    def _cache_files(self) -> list[str]:
        folder = storage.join(self.url, format.CACHE)
        return [storage.join(folder, n) for n in storage.ls(folder) if n.endswith(".parquet")]

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """All rows of this revision as an Arrow table (the delta chain applied)."""
        if columns is not None:
            for c in columns:
                self.schema[c]  # raises with the list of columns
        if self._arrow is not None:
            return self._arrow if columns is None else self._arrow.select(list(columns))
        wanted = None if columns is None else list(dict.fromkeys([ID_COLUMN, *columns]))
        chain = self.lineage()
        start = 0
        base: pa.Table | None = None
        for i in range(len(chain) - 1, -1, -1):
            rev = chain[i]
            cached = rev._cache_files() if not rev.is_source else []
            if rev.is_source or cached:
                files = rev._rows_files() if rev.is_source else cached
                base_cols = None if wanted is None else [c for c in wanted if c in rev.schema]
                base = storage.read_parquet(files, columns=base_cols)
                start = i + 1
                break
        if base is None:
            raise CorruptObjectError(f"{self.url}: no source rows found in its lineage.")
        try:
            for rev in chain[start:]:
                base = delta_mod.apply(base, rev._delta(), wanted, where=rev.url)
            out = base.select(wanted or self.schema.names)
            arrow = self.schema.to_arrow()
            schema = pa.schema([arrow.field(name) for name in out.column_names])
            out = out.cast(schema)
        except (pa.ArrowException, OverflowError) as exc:
            # Row files that do not fit the descriptor (ids beyond int64, a column missing or of
            # another type): damaged or planted, never something a Tercet writer makes.
            raise CorruptObjectError(
                f"The rows of {self.url} do not fit its schema ({exc}). The revision is damaged: "
                "restore its row files from a copy, or remove it."
            ) from exc
        if columns is None:
            with self._lock:
                self._arrow = out
            return out
        return out.select(list(columns))

    # pragma: no mutate start
    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """All rows (or some columns) of this revision as a pandas DataFrame."""
        df: pd.DataFrame = self.to_arrow(columns).to_pandas()
        return df

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row as a dict of plain Python values."""
        return self.to_arrow().to_pylist()  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.to_arrow().to_batches():
            yield from batch.to_pylist()

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample by position, with image columns loaded as PIL images."""
        table = self.to_arrow()
        if index < 0:
            index += table.num_rows
        if not 0 <= index < table.num_rows:
            raise IndexError(f"Row {index} is out of range: the table has {table.num_rows} rows.")
        row: dict[str, Any] = table.slice(index, 1).to_pylist()[0]
        for col in self.schema:
            if col.role == "image" and row.get(col.name):
                row[col.name] = self.load_image(row[col.name])
        return row

    def resolve_url(self, url: str) -> str:
        """Absolute URL of a URL stored in this table (aliases expanded, relative resolved)."""
        return aliases.expand(url, base=self.url, project_url=self.project_url)

    def load_image(self, url: str) -> Any:
        """The image at a URL stored in this table, decoded with PIL.

        Pillow's own decompression-bomb limit applies (``PIL.Image.MAX_IMAGE_PIXELS``, ~89 MP:
        a warning beyond it, ``DecompressionBombError`` beyond twice it), here and in
        :mod:`tercet.torch`: training reads data its owner chose, and may raise the limit for
        large images. The Object Service, which decodes for anyone holding its token, has its
        own lower one (``service.max_image_pixels``).
        """
        from PIL import Image

        data = storage.read_bytes(self.resolve_url(url))
        image = Image.open(io.BytesIO(data))
        image.load()
        return image

    def example_ids(self) -> np.ndarray:
        """The ``example_id`` of every row, in table order."""
        return np.asarray(self.to_arrow([ID_COLUMN]).column(ID_COLUMN).to_numpy())

    # -- revisions -----------------------------------------------------------------------------
    def edit(self, message: str = "") -> Edit[Table]:
        """Collect several edits into one new revision: ``with t.edit() as e: …; e.result``."""
        return Edit(self, message)

    def set_values(
        self, column: str, example_ids: Sequence[int] | np.ndarray, values: Any, message: str = ""
    ) -> Table:
        """A new revision with ``column`` set to ``values`` for ``example_ids``."""
        with self.edit(message) as e:
            e.set_values(column, example_ids, values)
        return e.result

    def delete_rows(self, example_ids: Sequence[int] | np.ndarray, message: str = "") -> Table:
        """A new revision without the rows ``example_ids``."""
        with self.edit(message) as e:
            e.delete_rows(example_ids)
        return e.result

    def set_weights(
        self, example_ids: Sequence[int] | np.ndarray, weights: Any, message: str = ""
    ) -> Table:
        """A new revision with ``weight`` set for ``example_ids`` (0: left out of training)."""
        with self.edit(message) as e:
            e.set_weights(example_ids, weights)
        return e.result

    def add_column(
        self, name: str, type: pa.DataType, role: str = "number", default: Any = None,
        value_map: Any = None, message: str = "",
    ) -> Table:  # fmt: skip
        """A new revision with a new column (``default`` in every row)."""
        with self.edit(message) as e:
            e.add_column(name, type, role, default, value_map)
        return e.result

    def set_value_map(self, column: str, value_map: Any, message: str = "") -> Table:
        """A new revision whose label (or boxes) column ``column`` has a new value map."""
        with self.edit(message) as e:
            e.set_value_map(column, value_map)
        return e.result

    def apply_edits(self, edits: Mapping[str, Any], message: str = "") -> Table:
        """Apply edits in the service's JSON form: ``{"set": [{"column", "example_id", "value"}],
        "delete": [ids], "weights": [{"example_id", "weight"}]}``."""
        with self.edit(message) as e:
            e.apply_json(edits)
        return e.result

    # pragma: no mutate end
    def children(self) -> list[Table]:
        """Revisions derived directly from this one."""
        return [t for t in _siblings(self) if t.parent_url == self.url]

    def latest(self) -> Table:
        """The newest leaf descendant of this revision (itself when it has none).

        Derived from the immutable revisions alone (:func:`tercet.format.latest_leaf`), so every
        reader agrees without a pointer file. A revision's ``created`` counts only up to when the
        storage recorded it (plus :data:`tercet.format.SKEW_TOLERANCE`), so a writer whose clock
        runs ahead, or a planted descriptor dated in the future, cannot stay the latest.
        """
        revisions = {t.url: t for t in _siblings(self)}
        # When the storage recorded each descriptor: the rule checks every claimed time by it.
        stored = storage.modified_times([format.descriptor_url(u) for u in {self.url, *revisions}])
        leaf = format.latest_leaf(
            self._revision(stored), [t._revision(stored) for t in revisions.values()]
        )
        return revisions.get(leaf.url, self)

    def _revision(self, stored: Mapping[str, float | None]) -> format.Revision:
        when = stored.get(format.descriptor_url(self.url))
        return format.Revision(self.url, self.parent_url, str(self._d["created"]), self.id, when)

    # pragma: no mutate start
    def squash(self, name: str | None = None, message: str = "") -> Table:
        """Write this revision's rows as a standalone revision (no delta chain to read).

        Without ``name`` it becomes a child of this revision (so :meth:`latest` moves to it);
        with ``name`` it becomes a new source table.
        """
        data = self.to_arrow()
        if name is not None:
            folder = source.create(
                data,
                self.project,
                self.dataset,
                name,
                schema=self.schema,
                root=storage.parent(self.project_url),
                message=message or f"squash of {self.name}",
            )
            return Table.open(folder)
        from tercet.tables.lineage import write_full_revision

        return Table.open(write_full_revision(self, data, message or f"squash of {self.name}"))

    def materialize(self) -> None:
        """Write a row cache for this revision so long chains read in one step."""
        if self.is_source or self._cache_files():
            return
        data = self.to_arrow()
        storage.write_parquet(
            storage.join(self.url, format.CACHE, f"rows-{uuid.uuid4().hex[:8]}.parquet"), data
        )

    # -- lineage: splits, subsets, appends, joins (tables/lineage.py) ------------------------
    @property
    def display_name(self) -> str:
        """The table's name as its creator wrote it (its folder name is a slug of it)."""
        return str((self._d.get("display_names") or {}).get("table") or self.table_name)

    @property
    def derived_from(self) -> dict[str, Any] | None:
        """For a table made by :meth:`split`, :meth:`subset` (or a revision made by :meth:`join`):
        ``{"revision": <absolute URL it was made from>, "rule": {...}}``; else None."""
        spec = self._d.get("derived_from")
        if not isinstance(spec, dict):
            return None
        revision = format.check_reference(spec.get("revision"), self.url, "table", "derived_from")
        return {"revision": revision, "rule": dict(spec.get("rule") or {})}

    def split(
        self, fractions: Mapping[str, float], by: str = "random", seed: int = 0,
        label: str | None = None, if_exists: str = "error", message: str = "",
    ) -> dict[str, Table]:  # fmt: skip
        """Split this revision's rows into **new tables** named by the keys of ``fractions``.

        ``by``: ``"random"``; ``"stratified"`` (each value of the ``label`` column, by default the
        one label column, split by the same fractions); or a column whose equal values stay in
        one part (a group split). Each new table lives in the same dataset and records
        ``derived_from`` (this revision and the rule). They are not revisions of this table:
        :meth:`latest` of this one never moves into them. ``if_exists`` as for :meth:`create`;
        every name is checked before anything is written.
        """
        from tercet.tables import existing, lineage

        parts, rule = lineage.split_parts(self, fractions, by, seed, label)
        root = storage.parent(self.project_url)
        for part in parts:
            existing.target(self.project, self.dataset, part, root, if_exists)
        out = {}
        for part, ids in parts.items():
            text = message or f"{part}: split of {self.name} ({by}, seed {seed})"
            rule_part = {**rule, "part": part}
            folder = lineage.write_derived(self, part, ids, rule_part, if_exists, text)
            out[part] = Table.open(folder)
        return out

    def subset(
        self, example_ids: Sequence[int] | np.ndarray, name: str, if_exists: str = "error",
        message: str = "",
    ) -> Table:  # fmt: skip
        """A **new table** ``name`` in this dataset holding the rows ``example_ids`` (their ids
        kept), recording ``derived_from``; :meth:`latest` of this table never moves into it."""
        from tercet.tables import lineage

        ids = lineage.check_subset_ids(self, example_ids)
        rule = {"op": "subset", "rows": len(ids)}
        text = message or f"subset of {self.name} ({len(ids)} rows)"
        return Table.open(lineage.write_derived(self, name, ids, rule, if_exists, text))

    def append(self, rows: Any, message: str = "") -> Table:
        """A new revision with ``rows`` (anything :meth:`create` takes) after this one's rows.

        Their ``example_id`` continues after the largest the lineage ever held (given ids must
        be new); they must fit the schema (:class:`~tercet.errors.SchemaError` otherwise, and
        nothing is written). The revision holds all its rows, like :meth:`squash`.
        """
        from tercet.tables import lineage

        return Table.open(lineage.append(self, rows, message))

    def join(
        self, other: Table, on: str = ID_COLUMN, columns: Sequence[str] | None = None,
        message: str = "",
    ) -> Table:  # fmt: skip
        """A new revision with the columns of ``other`` (all but ``on``, ``example_id`` and
        ``weight``, or ``columns``) added, matched on ``on``. Every row must find its match and
        no added column may exist here already; roles and value maps come along."""
        from tercet.tables import lineage

        added, names = lineage.join_columns(self, other, on, columns)
        ids = self.to_arrow([ID_COLUMN]).column(ID_COLUMN).to_numpy()
        with self.edit(message or f"join {', '.join(names)} from {other.name} on {on}") as e:
            for c in names:
                col = other.schema[c]
                e.add_column(c, col.type, col.role, value_map=col.value_map)
                e.set_array(c, ids, added.column(c))
            if other.project_url == self.project_url:
                # The new revision is a sibling of this one: the same way leads to ``other``.
                relative = storage.relative_to(other.url, self.url).replace("\\", "/")
                e.extra["derived_from"] = format.derived_from(
                    relative,
                    {"op": "join", "on": on, "columns": names},
                )
        return e.result

    def rewrite_urls(
        self, old: str, new: str, columns: Sequence[str] | None = None, message: str = ""
    ) -> RewriteResult[Table]:
        """A new sparse revision whose URL columns (role ``image``, or ``columns``) have the
        prefix ``old`` replaced by ``new`` (a path, URL or ``<ALIAS>``, which must be set).

        Returns the revision (None when nothing matched: then nothing is written) and the
        number of changed values per column. ``tercet alias rewrite`` is the same from a shell.
        """
        from tercet.tables.rewrite import rewrite_urls

        return rewrite_urls(self, old, new, columns, message, project_url=self.project_url)

    # -- training data (tercet.torch; torch is imported only when these are called) ------------
    def as_dataset(self, columns: Sequence[str] | None = None, latest: bool = True,
                   load_images: bool = True) -> TableDataset[dict[str, Any]]:  # fmt: skip
        """This table (by default its latest revision) as a map-style PyTorch ``Dataset`` of row
        dicts; see :class:`tercet.torch.TableDataset`."""
        from tercet.torch import as_dataset

        return as_dataset(self, columns=columns, latest=latest, load_images=load_images)

    def map(self, transform: Callable[[dict[str, Any]], Any], columns: Sequence[str] | None = None,
            latest: bool = True) -> TableDataset[Any]:  # fmt: skip
        """A PyTorch ``Dataset`` of ``transform(row)`` (use a module-level function so that
        DataLoader workers can pickle it)."""
        return self.as_dataset(columns=columns, latest=latest).map(transform)

    def sampler(self, weighted: bool = True, exclude_zero_weight: bool = True,
                **kwargs: Any) -> TableSampler:  # fmt: skip
        """A sampler honouring the ``weight`` column; prefer ``dataset.sampler()`` so that both
        read the same revision. See :class:`tercet.torch.TableSampler`."""
        from tercet.torch import sampler

        return sampler(self, weighted=weighted, exclude_zero_weight=exclude_zero_weight, **kwargs)

    # pragma: no mutate end


def _siblings(table: Table) -> list[Table]:
    """Every readable revision of the same table (same dataset folder and table name)."""
    folder = storage.parent(table.url)
    out = []
    for name in storage.ls(folder):
        if not format.is_revision_of(name, table.table_name):
            continue
        url = storage.join(folder, name)
        try:
            t = Table(url, read_descriptor(url))
        except (ObjectNotFoundError, CorruptObjectError, SchemaError):
            continue  # half-written or damaged revisions never become "latest"
        if t.table_name == table.table_name:
            out.append(t)
    return out


def list_tables(project: str, root: str | None = None) -> list[Table]:
    """Every readable table revision in a project."""
    out = []
    for folder in layout.table_object_urls(project, root):
        try:
            out.append(Table(folder, read_descriptor(folder)))
        except (ObjectNotFoundError, CorruptObjectError, SchemaError):
            continue
    return out
