"""The fence around the references a bundle stores (:mod:`tercet.share.fence`), rule by rule
and with exact messages, without a bundle."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tercet.errors import ShareError
from tercet.share import fence as share_fence
from tests.share.test_rules import RUN_DIR, TABLE_DIR

# -- the fence around references a bundle stores (tercet.share.fence), without a bundle -----------
LEAVES_OBJECTS = "is absolute or aliased; references between objects must be relative"


@pytest.mark.parametrize(
    ("ref", "path", "field", "data", "why"),
    [
        (None, TABLE_DIR, "parent", False, "is not a non-empty string"),
        ("", TABLE_DIR, "parent", False, "is not a non-empty string"),
        (3, TABLE_DIR, "image URL", True, "is not a non-empty string"),
        ("../t\x1b", TABLE_DIR, "parent", False, "holds control characters"),
        ("a\x85.png", TABLE_DIR, "image URL", True, "holds control characters"),
        ("..\\t", TABLE_DIR, "parent", False, "holds a backslash"),
        ("C:\\x.png", TABLE_DIR, "image URL", True, "holds a backslash"),
        ("/etc", TABLE_DIR, "parent", False, LEAVES_OBJECTS),
        ("~/t", TABLE_DIR, "parent", False, LEAVES_OBJECTS),
        ("<PROJECT_DATA>/t", TABLE_DIR, "rows[]", False, LEAVES_OBJECTS),
        ("s3://b/t", RUN_DIR, "input table", False, LEAVES_OBJECTS),
        ("c:t", RUN_DIR, "footer table", False, LEAVES_OBJECTS),
        ("mailto:t", TABLE_DIR, "delta.file", False, LEAVES_OBJECTS),
        ("../t", TABLE_DIR, "parent", False, None),
        ("../../e/tables/t", TABLE_DIR, "parent", False, None),
        (
            "../../../../../mine/t",
            TABLE_DIR,
            "parent",
            False,
            "leads out of its project 'demo' (it resolves to 'mine/t')",
        ),
        ("rows/part-0.parquet", TABLE_DIR, "rows[]", False, None),
        (
            "../t/rows/p.parquet",
            TABLE_DIR,
            "rows[]",
            False,
            f"leads out of its object's folder {TABLE_DIR!r} "
            "(it resolves to 'demo/datasets/d/tables/t/rows/p.parquet')",
        ),
        ("delta.parquet", TABLE_DIR, "delta.file", False, None),
        (
            ".",
            TABLE_DIR,
            "delta.file",
            False,
            f"leads out of its object's folder {TABLE_DIR!r} (it resolves to {TABLE_DIR!r})",
        ),
        ("../../datasets/d/tables/t", RUN_DIR, "input table", False, None),
        ("../../datasets/d/tables/t", RUN_DIR, "footer table", False, None),
        (
            "../../../mine/datasets/d/tables/t",
            RUN_DIR,
            "footer table",
            False,
            "leads out of its project 'demo' (it resolves to 'mine/datasets/d/tables/t')",
        ),
        # Data URLs: absolute and aliased ones may point anywhere, relative ones stay inside.
        ("/data/x.png", TABLE_DIR, "image URL", True, None),
        ("<DATA>/x.png", TABLE_DIR, "image URL", True, None),
        ("s3://b/x.png", TABLE_DIR, "image URL", True, None),
        ("../../../../x.png", TABLE_DIR, "image URL", True, None),
        (
            "../../../../../x.png",
            TABLE_DIR,
            "image URL",
            True,
            "leads out of its project 'demo' (it resolves to 'x.png')",
        ),
        (
            "../../../..",
            TABLE_DIR,
            "image URL",
            True,
            "leads out of its project 'demo' (it resolves to 'demo')",
        ),
        (
            "../../../../../demo-x/a.png",
            TABLE_DIR,
            "image URL",
            True,
            "leads out of its project 'demo' (it resolves to 'demo-x/a.png')",
        ),
    ],
)
def test_reference_rule(ref: Any, path: str, field: str, data: bool, why: str | None) -> None:
    assert share_fence.reference_error(ref, path, data=data, field=field) == why
    if not data:  # references are not data URLs unless said so
        assert share_fence.reference_error(ref, path, field=field) == why
    if why is None:
        share_fence.check(ref, path, field, "W", data=data)
        return
    with pytest.raises(ShareError) as err:
        share_fence.check(ref, path, field, "W", data=data)
    assert str(err.value) == (
        f"W: {field} {ref!r} {why}. A bundle's objects may only refer inside their own project; "
        "this one was crafted or damaged. Nothing was written."
    )


def _table_descriptor(**changes: Any) -> dict[str, Any]:
    return {
        "format": "tercet.table",
        "schema": {"columns": [{"name": "img", "role": "image"}, {"name": "y", "role": "label"}]},
        "parent": "../t",
        "rows": ["rows/a.parquet", "rows/b.parquet"],
        "delta": {"file": "delta.parquet", "set": {"img": {"rows": [0], "value": ["/d/a.png"]}}},
        **changes,
    }


def test_a_table_descriptors_references_that_pass() -> None:
    share_fence.check_descriptor(_table_descriptor(), TABLE_DIR, "W")
    share_fence.check_descriptor(
        _table_descriptor(parent=None, rows=None, delta=None), TABLE_DIR, "W"
    )
    share_fence.check_descriptor(_table_descriptor(delta={"file": None}), TABLE_DIR, "W")
    # Run descriptors store no reference checked here (their input tables are in events).
    share_fence.check_descriptor({"format": "tercet.run", "parent": "/etc"}, RUN_DIR, "W")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"parent": "/etc"}, f"W: parent '/etc' {LEAVES_OBJECTS}"),
        ({"rows": ["rows/a.parquet", "/etc/passwd"]}, f"W: rows[] '/etc/passwd' {LEAVES_OBJECTS}"),
        ({"rows": "rows/a.parquet"}, "W: rows is not a list. The bundle is damaged."),
        ({"delta": ["x"]}, "W: delta is not an object. The bundle is damaged."),
        ({"delta": {"file": "/x"}}, f"W: delta.file '/x' {LEAVES_OBJECTS}"),
        ({"delta": {"set": ["img"]}}, "W: its inline delta is malformed. The bundle is damaged."),
        (
            {"delta": {"set": {"img": {"value": None}}}},
            "W: its inline delta is malformed. The bundle is damaged.",
        ),
        (
            {"delta": {"set": {"img": {"rows": [0], "value": ["../../../../../x.png"]}}}},
            "W: image URL '../../../../../x.png' leads out of its project 'demo'",
        ),
        (
            {
                "delta": {
                    "added_columns": [
                        {"name": "i2", "role": "image", "default": "../../../../../x.png"}
                    ]
                }
            },
            "W: image URL '../../../../../x.png' leads out of its project 'demo'",
        ),
    ],
)
def test_a_table_descriptors_bad_references_are_named(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ShareError) as err:
        share_fence.check_descriptor(_table_descriptor(**changes), TABLE_DIR, "W")
    assert str(err.value).startswith(message)


def test_only_input_events_name_tables() -> None:
    out = "../../../mine/datasets/d/tables/t"
    for raw in (
        b"{not json",
        b"\xff\xfe",
        b"[1]",
        json.dumps({"type": "epoch", "table": out}).encode(),
        json.dumps({"type": "input"}).encode(),
        json.dumps({"type": "input", "table": "../../datasets/d/tables/t"}).encode(),
    ):
        share_fence.check_event(raw, RUN_DIR, "W")
    with pytest.raises(ShareError, match=r"^W: input table '\.\./\.\./\.\./mine/.*' leads out"):
        share_fence.check_event(json.dumps({"type": "input", "table": out}).encode(), RUN_DIR, "W")


def _parquet(header: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = None if header is None else {b"tercet": json.dumps(header).encode()}
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2]}).replace_schema_metadata(meta), buf)
    return buf.getvalue()


def test_a_footer_naming_a_table_in_the_project_passes() -> None:
    share_fence.check_footer(_parquet({"table": "../../datasets/d/tables/t"}), RUN_DIR, "W")
    share_fence.check_footer(_parquet({"epoch": 1}), RUN_DIR, "W")
    share_fence.check_footer(_parquet(None), RUN_DIR, "W")  # logged scalars have no header
    tail = share_fence.Tail(1 << 16)
    for i in range(0, len(data := _parquet({"table": "../../datasets/d/tables/t"})), 7):
        tail.add(data[i : i + 7])
    share_fence.check_footer(tail.value(), RUN_DIR, "W")


def test_footers_that_are_not_parquet_or_lead_out_are_refused() -> None:
    good = _parquet({"table": "../../datasets/d/tables/t"})
    with pytest.raises(ShareError) as err:
        share_fence.check_footer(good[-11:], RUN_DIR, "W")
    assert str(err.value) == "W is not a Parquet file. The bundle is damaged."
    share_fence.check_footer(good[-(int.from_bytes(good[-8:-4], "little") + 8) :], RUN_DIR, "W")
    with pytest.raises(ShareError, match="^W is not a Parquet file"):
        share_fence.check_footer(good[:-1] + b"2", RUN_DIR, "W")
    short = good[-(int.from_bytes(good[-8:-4], "little") + 7) :]
    with pytest.raises(ShareError) as err:
        share_fence.check_footer(short, RUN_DIR, "W")
    length = int.from_bytes(good[-8:-4], "little")
    assert str(err.value) == (
        f"W: its Parquet footer declares {length:,} bytes, more than the {len(short) - 8:,} "
        "checked for references. The bundle is damaged or was crafted."
    )
    garbage = b"\x00" * 20 + (20).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(ShareError, match=r"^W: its Parquet footer is unreadable \("):
        share_fence.check_footer(garbage, RUN_DIR, "W")
    # The smallest tail that can hold a footer is read as one; a length past 3 bytes is read whole.
    smallest = b"\x00" * 4 + (4).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(ShareError, match=r"^W: its Parquet footer is unreadable \("):
        share_fence.check_footer(smallest, RUN_DIR, "W")
    huge = b"\x00" * 20 + (1 << 24).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(
        ShareError, match=r"^W: its Parquet footer declares 16,777,216 bytes, more "
    ):
        share_fence.check_footer(huge, RUN_DIR, "W")
    out = _parquet({"table": "../../../mine/datasets/d/tables/t"})
    with pytest.raises(ShareError, match=r"^W: footer table '\.\./\.\./\.\./mine/.*' leads out"):
        share_fence.check_footer(out, RUN_DIR, "W")


def test_tail_keeps_the_last_bytes_of_a_stream() -> None:
    tail = share_fence.Tail(4)
    assert tail.value() == b""
    tail.add(b"ab")
    assert tail.value() == b"ab"
    for chunk in (b"cdefg", b"h", b"i", b"jklmnopq", b"r"):
        tail.add(chunk)
        assert len(tail.kept) <= 2 * 4  # a stream of any length holds a few bytes
    assert tail.value() == b"opqr"
    assert len(tail.kept) <= 8


def test_a_final_events_copies_of_input_events_are_checked_too() -> None:
    """A final event carries copies of the run's events, which readers use instead of the
    files: an input event copied there is held to the same rule as one in its own file."""
    out = "../../../mine/datasets/d/tables/t"

    def final(table: str) -> bytes:
        copies = {"0001-input.json": {"type": "input", "table": table},
                  "0002-epoch.json": {"type": "epoch", "table": out}}  # fmt: skip
        return json.dumps({"type": "completed", "summary": {"events": copies}}).encode()

    share_fence.check_event(final("../../datasets/d/tables/t"), RUN_DIR, "W")
    with pytest.raises(ShareError, match=r"^W: input table '\.\./\.\./\.\./mine/.*' leads out"):
        share_fence.check_event(final(out), RUN_DIR, "W")
