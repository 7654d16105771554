"""Where a bundle may write (:mod:`tercet.share.members`), rule by rule and with exact messages:
each refusal names the bundle, the member and the rule. The references a bundle stores are in
test_reference_rules.py, the verifying pass over a whole bundle in test_scan_rules.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tercet.errors import ShareError
from tercet.share import members


def first_image(name: str) -> bool:
    return name.endswith("/img/0.png")


# -- where a bundle may write (tercet.share.members), rule by rule, without a bundle --------------
URL = "/b.tercet"
RUN_DIR = "demo/runs/r"
TABLE_DIR = "demo/datasets/d/tables/t.2"
DECLARED: dict[str, Any] = {RUN_DIR: "run", TABLE_DIR: "table"}


@pytest.mark.parametrize(
    ("rel", "owner"),
    [
        (f"{RUN_DIR}/object.json", RUN_DIR),
        (f"{RUN_DIR}/events/0001.json", RUN_DIR),
        (f"{RUN_DIR}/metrics/epoch-1.parquet", RUN_DIR),
        (f"{RUN_DIR}/metrics/val/epoch-1.parquet", RUN_DIR),
        (f"{RUN_DIR}/metrics/val/projections/umap/e.parquet", RUN_DIR),
        (f"{TABLE_DIR}/object.json", TABLE_DIR),
        (f"{TABLE_DIR}/delta.parquet", TABLE_DIR),
        (f"{TABLE_DIR}/rows/part-0.parquet", TABLE_DIR),
        ("demo/data/x.png", None),
        ("demo/aliases.yaml", None),
        ("demo/x.png", None),
        ("demo/datasets/d/images/x.png", None),
    ],
)
def test_members_a_bundle_may_write(rel: str, owner: str | None) -> None:
    assert members.check_member(rel, DECLARED, URL) == owner


@pytest.mark.parametrize(
    ("rel", "rule"),
    [
        *[
            (
                f"{RUN_DIR}/{file}",
                "is not a file a run holds (object.json, events/*.json, metrics/**.parquet)",
            )
            for file in (
                "events/x.txt",
                "events/a/b.json",
                "delta.parquet",
                "rows/part-0.parquet",
                "metrics/x.json",
                "metrics/a/b/x.parquet",
                "metrics/a/b/c/x.parquet",
                "metrics/a/b/c/d/x.parquet",
                "metrics/a/projections/b/c/x.parquet",
                "notes.parquet",
            )
        ],
        *[
            (
                f"{TABLE_DIR}/{file}",
                "is not a file a table holds (object.json, rows/*.parquet, delta.parquet)",
            )
            for file in (
                "rows/part-0.csv",
                "rows/a/b.parquet",
                "rows.parquet",
                "events/x.json",
                "metrics/x.parquet",
                "delta.parquet/x",
            )
        ],
        *[
            (
                rel,
                "lies in the folders objects live in (runs/, datasets/<dataset>/tables/) but "
                "in no object the manifest declares",
            )
            for rel in (
                "demo/runs/x.png",
                "demo/runs/other/object.json",
                "demo/datasets/x.png",
                "demo/datasets/d/x.png",
                "demo/datasets/d/tables/x.png",
                "demo/datasets/d/tables/u/object.json",
            )
        ],
        (
            "demo",
            "would write into project 'demo', which the manifest does not declare "
            "(it declares: demo)",
        ),
        (
            "mine/x.png",
            "would write into project 'mine', which the manifest does not declare "
            "(it declares: demo)",
        ),
        ("demo/data/.tmp-x.png", "has a hidden temp name (.tmp-…)"),
        ("demo/.tmp-1/x.png", "has a hidden temp name (.tmp-…)"),
        ("demo/da\x1bta/x.png", "has control characters in its name"),
        ("demo/data/x\x9b.png", "has control characters in its name"),
    ],
)
def test_members_a_bundle_may_not_write_are_refused_by_name_and_rule(rel: str, rule: str) -> None:
    with pytest.raises(ShareError) as err:
        members.check_member(rel, DECLARED, URL)
    assert str(err.value) == (
        f"{URL}: member {'objects/' + rel!r} {rule}. The bundle was crafted or damaged; "
        "nothing was written."
    )


def test_a_bundle_declaring_no_object_may_write_nowhere() -> None:
    with pytest.raises(ShareError, match=r"project 'demo', .*\(it declares: none\)"):
        members.check_member("demo/data/x.png", {}, URL)
    declared = {"b/runs/r": "run", "a/runs/r": "run"}
    with pytest.raises(ShareError, match=r"\(it declares: a, b\)"):
        members.check_member("c/x.png", declared, URL)  # type: ignore[arg-type]


def test_only_a_projects_own_aliases_file_is_its_aliases() -> None:
    assert members.is_project_aliases("demo/aliases.yaml")
    assert not members.is_project_aliases("demo/data/aliases.yaml")
    assert not members.is_project_aliases("aliases.yaml")
    assert not members.is_project_aliases("demo/aliases.yml")


@pytest.mark.parametrize("key", ["name", "table", "project", "dataset"])
@pytest.mark.parametrize("value", ["a\nb", "../x", "", 7, ".hidden"])
def test_descriptor_identity_fields_must_be_names(key: str, value: Any) -> None:
    members.check_names({key: "ok-name.1_x"}, "W")
    members.check_names({key: None}, "W")
    with pytest.raises(ShareError) as err:
        members.check_names({key: value}, "W")
    assert str(err.value) == (
        f"W: {key} {value!r} is not a valid name (letters, digits, '.', '_', '-'; no control "
        "characters). The bundle was crafted or damaged."
    )


def _manifest() -> dict[str, Any]:
    return {
        "files": [{"name": f"objects/{RUN_DIR}/object.json", "size": 0, "sha256": "0a" * 32}],
        "objects": [
            {"path": RUN_DIR, "kind": "run", "project": "demo", "name": "r"},
            {
                "path": TABLE_DIR,
                "kind": "table",
                "project": "demo",
                "dataset": "d",
                "table": "t",
                "name": "t",
            },
        ],
        "aliases": {"DATA_2": {"samples": ["a/b.png", "c"], "included": False, "files": 2}},
        "absolute": [{"example": None}, {"example": "/x.png"}],
    }


def test_a_well_formed_manifest_passes() -> None:
    members.check_manifest(_manifest(), URL)  # type: ignore[arg-type]
    doc = _manifest()
    del doc["absolute"]
    doc["objects"][1]["path"] = doc["objects"][1]["table"] = "demo/datasets/d/tables/t"
    doc["objects"][1]["table"] = "t"
    members.check_manifest(doc, URL)  # type: ignore[arg-type]


def _files(doc: dict[str, Any], **change: Any) -> None:
    doc["files"][0].update(change)


def _entry(i: int, **change: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["objects"][i].update(change)


def _alias(**change: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["aliases"]["DATA_2"].update(change)


FILES = "the manifest's files list is malformed. The bundle is damaged."
OBJECTS = "the manifest's objects list is malformed. The bundle is damaged."
ENTRY = f"the manifest's object {RUN_DIR!r}"
TENTRY = f"the manifest's object {TABLE_DIR!r}"
SAMPLES = (
    "alias <DATA_2> lists sample paths that are not plain relative paths below it. The bundle "
    "was crafted or damaged; nothing was written."
)
ABSOLUTE = "the manifest's absolute list is malformed."
NOT_AN_OBJECT = (
    "is not a table revision or run folder (<project>/datasets/<dataset>/tables/<revision> or "
    "<project>/runs/<run>, names of letters, digits, '.', '_', '-'). The bundle is damaged."
)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(files={}), FILES),
        (lambda d: d.pop("files"), FILES),
        (lambda d: d["files"].append("x"), FILES),
        (lambda d: _files(d, name=1), FILES),
        (lambda d: _files(d, size=-1), FILES),
        (lambda d: _files(d, size="0"), FILES),
        (lambda d: _files(d, sha256=None), FILES),
        (lambda d: _files(d, sha256="0A" * 32), FILES),
        (lambda d: _files(d, sha256="0a" * 31), FILES),
        (lambda d: _files(d, sha256="0a" * 32 + "\n"), FILES),
        (lambda d: d.update(objects={}), OBJECTS),
        (lambda d: d["objects"].append([]), OBJECTS),
        (
            lambda d: d["objects"].append(dict(d["objects"][0])),
            f"the manifest lists {RUN_DIR} twice. It is damaged.",
        ),
        (_entry(0, kind="table"), f"{ENTRY} {NOT_AN_OBJECT}"),
        (_entry(0, path=7), f"the manifest's object 7 {NOT_AN_OBJECT}"),
        (_entry(0, path="demo/runs"), f"the manifest's object 'demo/runs' {NOT_AN_OBJECT}"),
        (_entry(0, project="mine"), f"{ENTRY} names project 'mine', not 'demo'."),
        (_entry(0, name=None), f"{ENTRY} has an invalid name None."),
        (_entry(0, name="r\x1b"), f"{ENTRY} has an invalid name 'r\\x1b'."),
        (_entry(1, table=None), f"{TENTRY} has an invalid table name None."),
        (_entry(1, table="../t"), f"{TENTRY} has an invalid table name '../t'."),
        (_entry(1, table="u"), f"{TENTRY} does not lie in the folder of table 'u'."),
        (_entry(1, table="t.2.x"), f"{TENTRY} does not lie in the folder of table 't.2.x'."),
        (_entry(1, dataset="e"), f"{TENTRY} does not lie in the folder of table 't'."),
        (
            lambda d: d.update(aliases=[]),
            "the manifest's aliases are malformed. The bundle is damaged.",
        ),
        (lambda d: d["aliases"].update(data={}), "the manifest names an invalid alias 'data'."),
        (lambda d: d["aliases"].update(DATA=[]), "the manifest names an invalid alias 'DATA'."),
        (_alias(samples=None), SAMPLES),
        (_alias(samples=["../x"]), SAMPLES),
        (_alias(samples=["a/../../x"]), SAMPLES),
        (_alias(samples=["/etc/passwd"]), SAMPLES),
        (_alias(samples=["~/x"]), SAMPLES),
        (_alias(samples=["a\\b"]), SAMPLES),
        (_alias(samples=[""]), SAMPLES),
        (_alias(samples=["a//b"]), SAMPLES),
        (_alias(samples=["./a"]), SAMPLES),
        (_alias(samples=["a/\x07"]), SAMPLES),
        (_alias(samples=[1]), SAMPLES),
        (_alias(included=1), "alias <DATA_2> in the manifest is malformed."),
        (_alias(files="2"), "alias <DATA_2> in the manifest is malformed."),
        (
            lambda d: d["aliases"]["DATA_2"].pop("files"),
            "alias <DATA_2> in the manifest is malformed.",
        ),
        (lambda d: d.update(absolute={}), ABSOLUTE),
        (lambda d: d["absolute"].append("x"), ABSOLUTE),
        (lambda d: d["absolute"].append({"example": 1}), ABSOLUTE),
    ],
)
def test_a_malformed_manifest_is_refused_saying_which_record(
    edit: Callable[[dict[str, Any]], Any], message: str
) -> None:
    doc = _manifest()
    edit(doc)
    with pytest.raises(ShareError) as err:
        members.check_manifest(doc, URL)  # type: ignore[arg-type]
    assert str(err.value) == f"{URL}: {message}"
