# Over 400 lines: every wire model of the API in one place, the source of docs/openapi.json.
"""Wire models of the Object Service: what requests carry and what JSON responses hold.

These classes are the contract of ``docs/api.md``; FastAPI turns them into the OpenAPI document
from which the dashboard generates its client types. Request models forbid unknown keys so a typo
(``"mn"`` for ``"min"``) is a 422 that names it, not a silently ignored field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictInt, Tag, WithJsonSchema

MAX_LIMIT = 2_000_000
MAX_IN_VALUES = 1_000_000
MAX_OFFSET = 10**12

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# Example ids are int64 on disk: a larger one is a 422 here, not an overflow deep inside.
ExampleId = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
# Checked against the column type where the filter is compiled (one vectorised pass instead of a
# million per-item union validations).
ScalarList = Annotated[
    list[Any],
    Field(max_length=MAX_IN_VALUES),
    WithJsonSchema(
        {
            "type": "array",
            "maxItems": MAX_IN_VALUES,
            "items": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
        }
    ),
]
Scalar = Annotated[
    Any,
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- filters -------------------------------------------------------------------------------------
class RangeFilter(_Request):
    """Inclusive numeric range; a null bound is open."""

    column: str
    op: Literal["range"]
    min: FiniteFloat | None = None
    max: FiniteFloat | None = None


class InFilter(_Request):
    """Membership in a set of values: categories, or a list of example ids."""

    column: str
    op: Literal["in"]
    values: ScalarList


class ContainsFilter(_Request):
    """Case-insensitive substring match on a text column."""

    column: str
    op: Literal["contains"]
    value: str


class EqFilter(_Request):
    """Equality with one value of the column's type."""

    column: str
    op: Literal["eq"]
    value: Scalar


class IsNullFilter(_Request):
    """The column holds no value."""

    column: str
    op: Literal["is_null"]


class AndFilter(_Request):
    """Every filter holds (an empty list: all rows)."""

    and_: list[Filter] = Field(alias="and")


class OrFilter(_Request):
    """At least one filter holds (an empty list: no rows)."""

    or_: list[Filter] = Field(alias="or")


class NotFilter(_Request):
    """The filter does not hold (rows where it is unknown count as not holding)."""

    not_: Filter = Field(alias="not")


def _filter_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("and", "or", "not"):
            if key in value:
                return key
        op = value.get("op")
        return op if isinstance(op, str) else None
    tags: dict[type, str] = {
        AndFilter: "and",
        OrFilter: "or",
        NotFilter: "not",
        RangeFilter: "range",
        InFilter: "in",
        ContainsFilter: "contains",
        EqFilter: "eq",
        IsNullFilter: "is_null",
    }
    return tags.get(type(value))


Filter = Annotated[
    Annotated[AndFilter, Tag("and")]
    | Annotated[OrFilter, Tag("or")]
    | Annotated[NotFilter, Tag("not")]
    | Annotated[RangeFilter, Tag("range")]
    | Annotated[InFilter, Tag("in")]
    | Annotated[ContainsFilter, Tag("contains")]
    | Annotated[EqFilter, Tag("eq")]
    | Annotated[IsNullFilter, Tag("is_null")],
    Discriminator(
        _filter_tag,
        custom_error_type="invalid_filter",
        custom_error_message=(
            "A filter is {'and': [...]}, {'or': [...]}, {'not': {...}} or {'column': name, "
            "'op': 'range' | 'in' | 'contains' | 'eq' | 'is_null', ...}"
        ),
    ),
]
AndFilter.model_rebuild()
OrFilter.model_rebuild()
NotFilter.model_rebuild()


# -- sources -------------------------------------------------------------------------------------
class TableSource(_Request):
    """Rows of one table revision."""

    table: str


class RunSource(_Request):
    """A run's per-sample metrics for one split and epoch, joined to its input table revision."""

    run: str
    split: str
    epoch: StrictInt | None = Field(default=None, ge=0, description="Latest epoch when null.")
    join: Literal["collected", "latest"] = "collected"
    projection: str | None = None


def _source_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return "table" if "table" in value else "run" if "run" in value else None
    return "table" if isinstance(value, TableSource) else "run"


Source = Annotated[
    Annotated[TableSource, Tag("table")] | Annotated[RunSource, Tag("run")],
    Discriminator(
        _source_tag,
        custom_error_type="invalid_source",
        custom_error_message="A source is {'table': url} or {'run': url, 'split': name, ...}",
    ),
]


class SortKey(_Request):
    """One sort key; nulls always sort last."""

    column: str
    desc: bool = False


class RowsRequest(_Request):
    """A page of rows: columns (example_id always included), filter, sort, offset, limit."""

    source: Source
    columns: list[str] | None = Field(default=None, max_length=10_000)
    filter: Filter | None = None
    sort: list[SortKey] = Field(default_factory=list, max_length=16)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    limit: int = Field(default=100, ge=0, le=MAX_LIMIT)
    compact: bool = Field(
        default=False,
        description="For plotting: integers in the narrowest type that holds this page's values "
        "(example_id included), float64 as float32.",
    )


class SchemaRequest(_Request):
    """The columns of a source."""

    source: Source


class CountRequest(_Request):
    """How many rows match a filter."""

    source: Source
    filter: Filter | None = None


class SummaryRequest(_Request):
    """A histogram or category counts of one column under a filter."""

    source: Source
    filter: Filter | None = None
    column: str
    bins: int = Field(default=40, ge=1, le=1000)
    min: FiniteFloat | None = Field(
        default=None, description="Fix the histogram domain (e.g. to the unfiltered range)."
    )
    max: FiniteFloat | None = None


class ConfusionRequest(_Request):
    """Ground truth against prediction for one epoch of a run (latest when null)."""

    run: str
    split: str
    epoch: StrictInt | None = Field(default=None, ge=0)
    join: Literal["collected", "latest"] = "collected"
    filter: Filter | None = None


class TrajectoryRequest(_Request):
    """One example's metric values over the epochs of a split."""

    run: str
    split: str
    example_id: ExampleId
    columns: list[str] = Field(min_length=1, max_length=100)


# -- edits ---------------------------------------------------------------------------------------
class SetEdit(_Request):
    """Set one cell."""

    column: str
    example_id: ExampleId
    value: Any = None


class WeightEdit(_Request):
    """Set one row's training weight (0 leaves it out of training)."""

    example_id: ExampleId
    weight: FiniteFloat


class Edits(_Request):
    """The edits of one revision, validated against the base's schema."""

    set: list[SetEdit] = Field(default_factory=list)
    delete: list[ExampleId] = Field(default_factory=list)
    weights: list[WeightEdit] = Field(default_factory=list)


class RevisionRequest(_Request):
    """Edits against a base revision, to be written as its new child."""

    base: str
    message: str = Field(default="", max_length=10_000)
    edits: Edits


# -- responses -----------------------------------------------------------------------------------
class Health(BaseModel):
    """Liveness and version."""

    status: str
    version: str


class ProjectInfo(BaseModel):
    """A project folder found under the roots."""

    name: str
    url: str
    tables: int
    runs: int
    error: str | None = None


class DerivedFrom(BaseModel):
    """What a split, subset or join was made from: a revision (absolute URL) and the rule."""

    revision: str
    rule: dict[str, Any]


class TableRevision(BaseModel):
    """One table revision; ``parent`` is the lineage edge."""

    url: str
    id: str
    project: str
    dataset: str
    table: str
    name: str
    parent: str | None
    created: str
    num_rows: int
    message: str
    is_latest: bool = Field(description="The newest revision of its table (``latest`` of all).")
    latest: str = Field(
        description="URL of the latest revision derived from this one: its newest leaf "
        "descendant, itself when it has none (what ``Table.latest()`` returns)."
    )
    error: str | None
    display_name: str | None = Field(
        default=None, description="The table's name as written, when its folder name differs."
    )
    derived_from: DerivedFrom | None = Field(
        default=None,
        description="For a table made by split or subset (or a revision made by join): the "
        "revision it came from and the rule. Not a lineage edge: ``latest`` never follows it.",
    )


class RunInput(BaseModel):
    """A table revision a run read, and as which split."""

    table: str
    split: str | None


class RunStream(BaseModel):
    """A split with per-sample metrics: its epochs and input revision."""

    split: str
    epochs: list[int]
    table: str


class RunInfo(BaseModel):
    """A run: its folded state and what it has written."""

    url: str
    name: str
    display_name: str | None = Field(
        default=None, description="The run's given name when it differs from its folder `name`."
    )
    project: str
    created: str
    status: Literal["running", "completed", "failed", "stale"]
    parameters: dict[str, Any]
    inputs: list[RunInput]
    streams: list[RunStream]
    projections: list[str]
    failure: str | None = Field(default=None, description="The error a failed run reported.")
    error: str | None = Field(description="Why (part of) the run could not be read.")


class ValueMapEntry(BaseModel):
    """Name and color of one label value."""

    name: str
    color: str | None = None


ColumnType = Literal["int", "float", "string", "bool", "list", "embedding", "struct"]


class ColumnInfo(BaseModel):
    """One column of a source."""

    name: str
    type: ColumnType
    role: str
    value_map: dict[str, ValueMapEntry] | None = None
    dims: int | None = None
    display_name: str | None = None
    """The name to show instead of ``name`` (a metric's ``MetricSpec.display_name``)."""
    description: str | None = None
    """One sentence on what the value is (a tooltip)."""
    hidden: bool = False
    """Left out of the default view; still served and selectable."""


class SchemaInfo(BaseModel):
    """The columns of a source and its number of rows."""

    columns: list[ColumnInfo]
    num_rows: int
    density_points: int = Field(
        default=1_000_000,
        description="The service's `density_points`: a 2D scatter of more rows asks "
        "`POST /api/density` instead of every point.",
    )


class CountResult(BaseModel):
    """Rows in the source, and rows matching the filter."""

    total: int
    filtered: int


class HistogramSummary(BaseModel):
    """Counts of a numeric column in equal-width bins."""

    kind: Literal["histogram"] = "histogram"
    edges: list[float]
    counts: list[int]
    min: float | None
    max: float | None


class CategoryCount(BaseModel):
    """One value of a column and how many rows hold it."""

    value: str | int | float | bool | None
    count: int
    name: str | None = None
    color: str | None = None


class CategorySummary(BaseModel):
    """The most frequent values of a column (at most 200), most frequent first."""

    kind: Literal["categories"] = "categories"
    values: list[CategoryCount]
    distinct: int = Field(0, description="Distinct values under the filter, listed or not.")
    others: int = Field(0, description="Rows whose value is not in the list.")


class ConfusionLabel(BaseModel):
    """A label value and its name."""

    value: int
    name: str


class ConfusionResult(BaseModel):
    """Counts per (ground truth, prediction); rows are ground truth."""

    labels: list[ConfusionLabel]
    matrix: list[list[int]]


class TrajectoryResult(BaseModel):
    """Metric values of one example per epoch."""

    epochs: list[int]
    values: dict[str, list[Any]]


class ScalarSeries(BaseModel):
    """One logged scalar over steps."""

    step: list[int]
    epoch: list[int | None]
    value: list[float | None]


class ScalarsResult(BaseModel):
    """Every scalar a run logged, by name."""

    series: dict[str, ScalarSeries]


class RevisionCreated(BaseModel):
    """The revision written by ``POST /api/revisions``."""

    url: str
    id: str
    name: str
    num_rows: int
    parent: str
    base_had_children: bool


class IndexEvent(BaseModel):
    """Data of one ``event: index`` message on ``/api/events``."""

    kind: Literal["run", "metrics", "revision", "status"]
    project: str
    url: str
    split: str | None = None
    epoch: int | None = None


class FileGrant(BaseModel):
    """A short-lived grant that opens ``GET /api/file`` (as ``?grant=``) for ``<img src>``."""

    grant: str
    expires: int = Field(description="Unix time (seconds) after which the grant is refused.")
    ttl: int = Field(description="Seconds a new grant lasts.")


class ErrorBody(BaseModel):
    """The body of every error response."""

    detail: str


# -- revision changes ----------------------------------------------------------------------------
class ColumnChange(BaseModel):
    """The rows whose value in one column a revision set."""

    column: str
    count: int
    example_ids: list[int] = Field(description="The first ``limit`` of them, ascending.")


class RevisionChanges(BaseModel):
    """What a revision changed against its parent, read from its delta (no rows are read)."""

    url: str
    parent: str | None
    whole: bool = Field(
        description="A source table or a revision that stores all its rows: no cell-level diff."
    )
    deleted: int
    deleted_ids: list[int] = Field(description="The first ``limit`` deleted ids, ascending.")
    set: list[ColumnChange]
    added_columns: list[str]
