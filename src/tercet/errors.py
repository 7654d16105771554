"""Every error Tercet raises on purpose, in one tree.

    TercetError
    ├── ConfigError            bad YAML, unknown key, wrong type in the config file or environment
    ├── AliasError             malformed alias name or value
    │   └── AliasNotSetError   a URL uses <NAME>/… but NAME is set nowhere
    ├── InvalidNameError       a project/dataset/table/run name that is not one path segment
    ├── StorageError           I/O failed
    │   ├── ObjectNotFoundError    (also a FileNotFoundError)
    │   ├── ObjectExistsError      (also a FileExistsError) an immutable object is already there
    │   ├── CorruptObjectError     object.json or Parquet that cannot be parsed, or holding a
    │   │   │                      reference that leads out of its folder or project
    │   │   └── FormatError        a dataset file (COCO, YOLO, data.yaml, Hugging Face) that
    │   │                          cannot be read; names the file and the line or field
    │   ├── OutsideRootsError      a URL outside the roots of the active fence (the service's)
    │   ├── NoSuchBucketError      the bucket a URL names does not exist (never read as empty)
    │   └── StoreUnreachableError  nothing answers at the storage endpoint
    ├── SchemaError            data does not fit the table's schema
    ├── EditError              an edit that cannot apply
    │   └── UnknownExampleError    edit names an example_id that is not in the revision
    ├── ExportError            a table that cannot be written in the format asked
    ├── RunError               a run that cannot be created, opened or written
    │   └── InsightsError          insights asked of a run that lacks what they need
    └── ShareError             a bundle that cannot be exported or imported

Each message says what went wrong, where, and how to fix it.
"""

from __future__ import annotations


class TercetError(Exception):
    """Base class of every error raised by Tercet on purpose."""


class ConfigError(TercetError):
    """The configuration file or a ``TERCET_*`` variable is invalid."""


class AliasError(TercetError):
    """An alias name or value is malformed."""


class AliasNotSetError(AliasError, KeyError):
    """A URL refers to an alias that is not set anywhere."""

    def __init__(self, name: str, url: str | None = None) -> None:
        self.name = name
        self.url = url
        where = f" (in {url!r})" if url else ""
        super().__init__(
            f"Alias <{name}> is not set{where}. Set it in one of three ways: "
            f"`tercet alias set {name} /path/or/s3://bucket/prefix` (saved in your config file), "
            f"the environment variable TERCET_ALIAS_{name}=..., "
            f"or in Python `tercet.aliases.set({name!r}, ...)`."
        )

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class InvalidNameError(TercetError, ValueError):
    """A name is not a valid single path segment."""


class StorageError(TercetError, OSError):
    """Reading or writing storage failed."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """The object at a URL does not exist."""


class ObjectExistsError(StorageError, FileExistsError):
    """An immutable object already exists at the URL; objects are never overwritten."""


class CorruptObjectError(StorageError):
    """An object exists but cannot be parsed."""


class FormatError(CorruptObjectError):
    """A dataset file in a foreign format cannot be read; the message names file and line/field."""


class OutsideRootsError(StorageError, PermissionError):
    """A URL lies outside the roots of the active fence (:mod:`tercet.storage.fence`)."""


class NoSuchBucketError(StorageError):
    """The bucket a URL names does not exist on its store.

    Deliberately not a ``FileNotFoundError``: a missing bucket is a setup error, and code that
    treats a missing object as "nothing there yet" must not read it as an empty root.
    """


class StoreUnreachableError(StorageError):
    """Nothing answers at the storage endpoint (wrong URL, server down, network)."""


class SchemaError(TercetError, ValueError):
    """Data does not match the table schema."""


class EditError(TercetError, ValueError):
    """An edit cannot be applied to a revision."""


class UnknownExampleError(EditError):
    """An edit refers to example ids that the revision does not hold."""


class ExportError(TercetError, ValueError):
    """A table cannot be exported as asked (unknown format, target exists, unfit columns)."""


class RunError(TercetError):
    """A run cannot be created, opened or written."""


class InsightsError(RunError):
    """Insights cannot be computed or read: the run lacks what a check needs (the message names
    it), or an input such as an image file is missing."""


class ShareError(TercetError):
    """A bundle cannot be exported or imported."""
