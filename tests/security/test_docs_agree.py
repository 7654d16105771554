"""Docs that agree with the code: the Python examples in docs/*.md and README.md run as written,
file names are those the code writes, the reference says what functions return, and every error
status the API documents for malformed input is the one it sends.

Example convention (docs/*.md, README.md): every fenced ``python`` block runs, in order, one
namespace per page, in a fresh project root and working folder. Two HTML comments, invisible on
the rendered page, go right before a block:

- ``<!-- docs-test: skip (why) -->`` — not run (a synopsis of signatures, a fragment of a training
  script); :data:`SKIPPED` pins the set so it stays small;
- ``<!-- docs-test: setup ... -->`` — hidden code run first (the data an example assumes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tercet import Table, storage
from tests.fixtures.service import RunningService

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([*REPO.glob("docs/*.md"), REPO / "README.md"])
SKIPPED = {
    ("docs/python-api.md", 1),
    ("README.md", 2),
    ("docs/integrations.md", 5),  # Ultralytics: not installable here (no torchvision)
    ("docs/integrations.md", 6),  # detectron2: likewise
}
"""(page, block number) of the python blocks that do not run; keep this set small."""

_BLOCK = re.compile(
    r"(?:<!-- docs-test: (?P<kind>skip|setup)(?P<arg>.*?)-->\s*\n)?```python\n(?P<code>.*?)```",
    re.S,
)


@dataclass
class Block:
    page: str
    number: int
    code: str
    setup: str
    skip: bool


def blocks(page: Path) -> list[Block]:
    """The fenced python blocks of ``page`` with their docs-test markers."""
    out = []
    name = str(page.relative_to(REPO))
    for number, m in enumerate(_BLOCK.finditer(page.read_text(encoding="utf-8")), start=1):
        kind, arg = m.group("kind"), m.group("arg") or ""
        out.append(
            Block(name, number, m.group("code"), arg if kind == "setup" else "", kind == "skip")
        )
    return out


def test_only_the_pinned_blocks_are_skipped() -> None:
    skipped = {(b.page, b.number) for page in PAGES for b in blocks(page) if b.skip}
    assert skipped == SKIPPED, "a skipped docs example must be pinned in SKIPPED (keep it small)"


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_python_examples_in_the_docs_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks(page):
        if block.skip:
            continue
        where = f"{block.page} python block {block.number}"
        if block.setup:
            exec(compile(block.setup, f"{where} (setup)", "exec"), namespace)
        exec(compile(block.code, where, "exec"), namespace)


# -- file names ----------------------------------------------------------------------------------
def _pattern(documented: str) -> re.Pattern[str]:
    """``part-00000-<8 hex>.parquet`` -> a regex where ``<N hex>`` is N hex digits."""
    parts = re.split(r"<(\d+) hex>", documented)
    text = "".join(re.escape(p) if i % 2 == 0 else f"[0-9a-f]{{{p}}}" for i, p in enumerate(parts))
    return re.compile(text + "$")


def test_row_files_are_named_as_format_md_says() -> None:
    text = (REPO / "docs" / "format.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if "/rows/" in line and "#" in line)
    source_name = re.search(r"/rows/(.+?\.parquet)", line)
    squashed_name = re.search(r"squashed: (\S+?)\)", line)
    assert source_name and squashed_name, line
    table = Table.create({"x": [1, 2, 3]}, project="p", dataset="d", name="t")
    (rows,) = table.descriptor["rows"]
    assert _pattern(source_name.group(1)).match(storage.basename(rows)), (rows, line)
    assert storage.exists(storage.join(table.url, rows))
    example = re.search(r'"rows": \["rows/(\S+?)"\]', text)
    assert example and _pattern(source_name.group(1)).match(example.group(1)), "the example"
    (squashed,) = table.set_values("x", [1], [5]).squash().descriptor["rows"]
    assert _pattern(squashed_name.group(1)).match(storage.basename(squashed)), squashed


# -- the reference says what functions return ----------------------------------------------------
def test_read_many_returns_a_dict_without_missing_objects_as_documented(root: Path) -> None:
    there = str(root / "a.json")
    storage.write_bytes(there, b"1")
    assert storage.read_many([there, str(root / "missing.json")]) == {there: b"1"}
    reference = (REPO / "docs" / "python-api.md").read_text(encoding="utf-8")
    entry = next(line for line in reference.splitlines() if "`storage.read_many(" in line)
    assert "-> dict[str, bytes]" in entry and "missing ones are left out" in entry, entry


# -- error statuses --------------------------------------------------------------------------------
MALFORMED_BODIES = {
    "not JSON": b"{not json",
    "not UTF-8": b"\xff\xfe\xfa{",
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "wrong type": b"[1, 2, 3]",
    "empty": b"",
    "NaN everywhere": b'{"source": NaN, "run": NaN, "base": NaN, "column": NaN}',
}


def _documented(service: RunningService) -> dict[str, object]:
    doc: dict[str, object] = service.client.get("/api/openapi.json").json()
    committed = json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert doc == committed
    return doc


def test_malformed_bodies_get_the_status_the_document_declares(service: RunningService) -> None:
    doc = _documented(service)
    paths = doc["paths"]
    assert isinstance(paths, dict)
    checked = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            declared = operation["responses"]
            assert "400" not in declared, f"{method} {path} declares a 400"
            assert "422" in declared, f"{method} {path} declares no status for malformed input"
            if "application/json" not in operation["requestBody"]["content"]:
                # An upload (POST /api/similar/image): a JSON body is the wrong type, a 415.
                assert "415" in declared, f"{method} {path} declares no 415"
                continue
            for what, body in MALFORMED_BODIES.items():
                response = service.client.request(
                    method.upper(), path, content=body,
                    headers={"content-type": "application/json"},
                )  # fmt: skip
                assert response.status_code == 422, (method, path, what, response.text)
                assert isinstance(response.json()["detail"], str), (method, path, what)
                checked += 1
    assert checked >= 6 * 7  # schema, rows, count, summary, confusion, trajectory, revisions


def test_malformed_query_parameters_get_the_status_the_document_declares(
    service: RunningService,
) -> None:
    doc = _documented(service)
    paths = doc["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        if path in ("/api/health", "/api/events", "/api/openapi.json"):
            continue
        get = operations.get("get")
        if not get or not get.get("parameters"):
            continue
        declared = get["responses"]
        assert "400" not in declared and "422" in declared, path
        concrete = path.replace("{project}", "demo")
        wrong = {
            p["name"]: "not-a-number" if p["schema"].get("type") == "integer" else "\x00"
            for p in get["parameters"]
            if p["in"] == "query"
        }
        for params in ({}, wrong):
            response = service.client.get(concrete, params=params)
            if response.status_code == 404 and "{project}" in path:
                continue  # the path names no project; its parameters are all in the path
            assert response.status_code == 422, (path, params, response.text)


def test_api_md_documents_the_malformed_input_status() -> None:
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    assert "Malformed input is always `422`, never `400`" in text
    assert "`400`" not in text.replace("never `400`", "")
