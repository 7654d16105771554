"""The storage fence (``tercet.storage.fence``) and the format rule for stored references
(``tercet.format.check_reference``), without the service: every primitive of the storage layer
refuses a URL outside the active fence before any I/O, and the rule refuses references that lead
out of their object or project."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tercet import Table, format, storage
from tercet.errors import CorruptObjectError, OutsideRootsError
from tercet.storage import files as storage_files


@pytest.fixture
def places(tmp_path: Path, root: Path) -> dict[str, Path]:
    """A fenced root with a file inside, and files outside it (one reached by a symlink)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text('{"secret": 1}')
    pq.write_table(pa.table({"secret": [1, 2, 3]}), outside / "secret.parquet")
    (root / "p").mkdir()
    (root / "p" / "ok.json").write_text('{"ok": 1}')
    (root / "p" / "link.json").symlink_to(outside / "secret.json")
    (root / "p" / "link-dir").symlink_to(outside)
    return {"root": root, "outside": outside}


READS: dict[str, Callable[[str], Any]] = {
    "read_bytes": storage.read_bytes,
    "read_json": storage.read_json,
    "read_many": lambda u: storage.read_many([u]),
    "read_parquet": storage.read_parquet,
    "read_parquet_metadata": storage.read_parquet_metadata,
    "exists": storage.exists,
    "file_info": storage.file_info,
    "ls": lambda u: storage.ls(storage.parent(u)),
    "walk_files": lambda u: storage.walk_files(storage.parent(u)),
    "open_read": lambda u: storage_files.open_read(u).__enter__(),
    "size": storage_files.size,
    "read_if_small": lambda u: storage_files.read_if_small(u, 1 << 20),
    "filesystem": storage.filesystem,
    "arrow_filesystem": storage.arrow_filesystem,
}
WRITES: dict[str, Callable[[str], Any]] = {
    "write_bytes": lambda u: storage.write_bytes(u + ".new", b"x"),
    "write_json": lambda u: storage.write_json(u + ".new", {}),
    "write_parquet": lambda u: storage.write_parquet(u + ".new", pa.table({"a": [1]})),
    "ParquetStream": lambda u: storage.ParquetStream(u + ".new", pa.schema([("a", pa.int64())])),
    "remove_file": storage_files.remove_file,
    "prune_empty_folders": lambda u: storage_files.prune_empty_folders(u, "/"),
}


def _outside_urls(places: dict[str, Path], name: str) -> list[str]:
    suffix = ".parquet" if "parquet" in name else ".json"
    root, outside = places["root"], places["outside"]
    return [
        str(outside / f"secret{suffix}"),  # absolute
        f"file://{outside}/secret{suffix}",  # file:// form
        str(root / "p" / ".." / ".." / "outside" / f"secret{suffix}"),  # climbing with ..
        str(root / "p" / "link-dir" / f"secret{suffix}"),  # through a symlinked folder
    ]


@pytest.mark.parametrize("name", [*READS, *WRITES])
def test_every_storage_primitive_refuses_urls_outside_the_fence(
    places: dict[str, Path], name: str
) -> None:
    do = {**READS, **WRITES}[name]
    before = sorted(p.name for p in places["outside"].iterdir())
    with storage.fenced(storage.Fence([str(places["root"])])):
        for url in _outside_urls(places, name):
            with pytest.raises(OutsideRootsError, match="outside the project roots"):
                do(url)
    assert sorted(p.name for p in places["outside"].iterdir()) == before  # nothing written


@pytest.mark.parametrize("name", list(READS))
def test_without_a_fence_storage_reads_anywhere_as_before(
    places: dict[str, Path], name: str
) -> None:
    suffix = ".parquet" if "parquet" in name else ".json"
    READS[name](str(places["outside"] / f"secret{suffix}"))


def test_a_symlinked_file_inside_the_root_is_read_where_it_points(places: dict[str, Path]) -> None:
    root = places["root"]
    with storage.fenced(storage.Fence([str(root)])):
        assert storage.read_json(str(root / "p" / "ok.json")) == {"ok": 1}
        with pytest.raises(OutsideRootsError, match="resolved: .*outside"):
            storage.read_json(str(root / "p" / "link.json"))
        # Listing the folder is fine: what it names is checked when read.
        assert "link.json" in storage.ls(str(root / "p"))


def test_read_json_many_maps_each_refused_url_to_its_error(places: dict[str, Path]) -> None:
    root = places["root"]
    inside, outside = str(root / "p" / "ok.json"), str(places["outside"] / "secret.json")
    with storage.fenced(storage.Fence([str(root)])):
        got = storage.read_json_many([inside, outside])
    assert got[inside] == {"ok": 1}
    assert isinstance(got[outside], OutsideRootsError)


def test_s3_roots_end_on_a_path_segment_boundary() -> None:
    fence = storage.Fence(["s3://bucket/projects"])
    assert fence.allows("s3://bucket/projects/demo/x.json")
    assert fence.allows("s3://bucket/projects")
    assert fence.allows("s3a://bucket/projects/demo/x.json")
    assert fence.allows("S3://bucket/projects/demo/x.json")
    for url in (
        "s3://bucket/projects-x/demo/x.json",
        "s3://bucket/projectsx",
        "s3://bucket/projects/../projects-x/demo/x.json",
        "s3://bucket/projects/demo/../../other/x.json",
        "s3://bucket/other",
        "s3://other-bucket/projects/demo/x.json",
        "memory://bucket/projects/demo/x.json",
        "http://bucket/projects/demo/x.json",
        "/bucket/projects/demo/x.json",
    ):
        assert not fence.allows(url), url
        with pytest.raises(OutsideRootsError, match="outside"):
            fence.check(url)


def test_is_under_ends_on_a_path_segment_boundary() -> None:
    """``storage.is_under`` (format's reference rule, aliases, the service's file access)."""
    assert storage.is_under("s3://b/projects/demo/x.json", "s3://b/projects")
    assert storage.is_under("/data/a/x", "/data/a")
    for url, root in (
        ("s3://b/projects-x/demo/x.json", "s3://b/projects"),
        ("s3://b/projectsx", "s3://b/projects"),
        ("/data/ab/x", "/data/a"),
    ):
        assert not storage.is_under(url, root), (url, root)


def test_data_files_may_come_from_the_file_roots_and_writes_never(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(b"png")
    fence = storage.Fence([str(tmp_path / "root")], files=lambda: [str(images)])
    with storage.fenced(fence):
        with pytest.raises(OutsideRootsError):
            storage.read_bytes(str(images / "a.png"))  # an object read: project roots only
        with storage.data_files():
            assert storage.read_bytes(str(images / "a.png")) == b"png"
            with pytest.raises(OutsideRootsError):
                storage.write_bytes(str(images / "b.png"), b"x")
    assert not (images / "b.png").exists()


def test_the_fence_travels_to_worker_threads(places: dict[str, Path]) -> None:
    outside = str(places["outside"] / "secret.json")
    fence = storage.Fence([str(places["root"])])
    seen: list[BaseException | None] = []

    def attempt() -> None:
        try:
            storage.read_bytes(outside)
            seen.append(None)
        except OutsideRootsError as exc:
            seen.append(exc)

    async def through_anyio() -> None:
        await anyio.to_thread.run_sync(attempt)  # how FastAPI runs sync routes

    with storage.fenced(fence):
        with storage.FencedExecutor(2) as pool:
            pool.submit(attempt).result()
            list(pool.map(lambda _: attempt(), range(2)))
        thread = threading.Thread(target=storage.carry(attempt))
        thread.start()
        thread.join()

        # An event loop of its own, on a thread carrying the fence: the browser tests' Playwright
        # may hold a running loop in this thread.
        def loop() -> None:
            anyio.run(through_anyio)

        looper = threading.Thread(target=storage.carry(loop))
        looper.start()
        looper.join()
    assert len(seen) == 5 and all(isinstance(e, OutsideRootsError) for e in seen)


def test_a_descriptor_cached_before_the_fence_is_fenced_all_the_same(
    tmp_path: Path, root: Path
) -> None:
    outside = tmp_path / "outside"
    secret = Table.create({"v": [1, 2]}, "secret", "d", "s", root=str(outside))
    assert Table.open(secret.url).num_rows == 2  # read (and cached) without a fence
    with storage.fenced(storage.Fence([str(root)])):
        with pytest.raises(OutsideRootsError):
            Table.open(secret.url)


# -- the format rule ---------------------------------------------------------------------------
TABLE = "/r/proj/datasets/d/tables/train.20261122T000000000000-abcdef"
RUN = "/r/proj/runs/run-1"


@pytest.mark.parametrize(
    ("field", "stored", "expected"),
    [
        ("rows", "rows/part-00000-a3197367.parquet", f"{TABLE}/rows/part-00000-a3197367.parquet"),
        ("rows", "rows/../rows/a.parquet", f"{TABLE}/rows/a.parquet"),
        ("delta", "delta.parquet", f"{TABLE}/delta.parquet"),
        ("parent", "../train", "/r/proj/datasets/d/tables/train"),
        ("parent", "../../../other/tables/t", "/r/proj/datasets/other/tables/t"),
    ],
)
def test_references_written_by_tercet_pass_the_rule(field: Any, stored: str, expected: str) -> None:
    assert format.check_reference(stored, TABLE, "table", field) == expected


def test_run_input_tables_may_be_relative_aliased_or_absolute() -> None:
    rel = "../../datasets/digits/tables/train"
    expected = "/r/proj/datasets/digits/tables/train"
    assert format.check_reference(rel, RUN, "run", "table") == expected
    for stored in ("<DATA>/proj/datasets/d/tables/t", "s3://b/other/datasets/d/tables/t"):
        assert format.check_reference(stored, RUN, "run", "table") == stored


@pytest.mark.parametrize(
    ("kind", "field", "stored", "text"),
    [
        ("table", "rows", "../../../../../outside/rows/part.parquet", "outside its object"),
        ("table", "rows", "../train/rows/part.parquet", "outside its object"),
        ("table", "rows", "/elsewhere/rows/part.parquet", "must be a path relative"),
        ("table", "rows", "s3://bucket/rows/part.parquet", "must be a path relative"),
        ("table", "rows", "<DATA>/part.parquet", "must be a path relative"),
        ("table", "rows", ".", "outside its object"),
        ("table", "rows", "", "not a URL"),
        ("table", "rows", None, "not a URL"),
        ("table", "rows", "rows/a\x00.parquet", "not a URL"),
        ("table", "delta", "../../../../../outside/delta.parquet", "outside its object"),
        ("table", "delta", "/elsewhere/delta.parquet", "must be a path relative"),
        ("table", "parent", "/elsewhere/datasets/d/tables/train", "must be a path relative"),
        ("table", "parent", "file:///elsewhere/datasets/d/tables/t", "must be a path relative"),
        ("table", "parent", "~/datasets/d/tables/train", "must be a path relative"),
        ("table", "parent", "<DATA>/datasets/d/tables/train", "must be a path relative"),
        ("table", "parent", "../../../../../other/datasets/d/tables/t", "outside its project"),
        ("table", "parent", "../../../../../proj-x/datasets/d/tables/t", "outside its project"),
        ("run", "table", "../../../other/datasets/d/tables/t", "outside its project"),
        ("run", "table", "../../..", "outside its project"),
        ("run", "table", 7, "not a URL"),
    ],
)
def test_references_leading_out_are_corrupt_objects_naming_the_field(
    kind: Any, field: Any, stored: Any, text: str
) -> None:
    holder = TABLE if kind == "table" else RUN
    with pytest.raises(CorruptObjectError, match=text) as caught:
        format.check_reference(stored, holder, kind, field)
    assert f"'{field}'" in str(caught.value)
    assert str(caught.value).startswith(f"{holder}/object.json:")


def test_the_rule_names_the_file_that_holds_the_reference() -> None:
    footer = f"{RUN}/metrics/val/epoch-0000-x.parquet"
    with pytest.raises(CorruptObjectError, match=f"^{footer}: 'table'"):
        format.check_reference("../../../x/datasets/d/tables/t", RUN, "run", "table", footer)


def test_s3_references_stay_inside_their_project_on_a_segment_boundary() -> None:
    table = "s3://b/projects/demo/datasets/d/tables/t.1"
    assert format.check_reference("../t", table, "table", "parent") == (
        "s3://b/projects/demo/datasets/d/tables/t"
    )
    with pytest.raises(CorruptObjectError, match="outside its project"):
        format.check_reference("../../../../../demo-x/datasets/d/t/t", table, "table", "parent")


# -- threads carry the fence -----------------------------------------------------------------------
SRC = Path(__file__).resolve().parents[2] / "src" / "tercet"
# Rooms whose work may run under the service's fence. share/ runs its own pools (import-time
# checks are its own); testing/ and demo.py are not part of the service. The uvicorn thread of
# service/server.py serves requests, which FenceMiddleware fences one by one.
FENCED_ROOMS = ("storage", "service", "runs", "tables", "aliases.py", "layout.py", "format.py")
UNFENCED_THREADS = {("service/server.py", "_run")}


def _thread_calls() -> list[tuple[str, int, str]]:
    import ast

    found: list[tuple[str, int, str]] = []
    for room in FENCED_ROOMS:
        paths = [SRC / room] if room.endswith(".py") else sorted((SRC / room).rglob("*.py"))
        for path in paths:
            rel = str(path.relative_to(SRC))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = ast.unparse(node.func)
                if name.endswith("ThreadPoolExecutor") and rel != "storage/fence.py":
                    found.append((rel, node.lineno, "ThreadPoolExecutor: use FencedExecutor"))
                if name in ("threading.Thread", "Thread"):
                    target = next((k.value for k in node.keywords if k.arg == "target"), None)
                    text = ast.unparse(target) if target is not None else ""
                    if "carry(" not in text and (rel, text.split(".")[-1]) not in UNFENCED_THREADS:
                        found.append((rel, node.lineno, "Thread without carry(target)"))
    return found


def test_threads_started_where_the_service_runs_carry_the_fence() -> None:
    # A contextvar does not cross into a plain thread: a pool or thread started without the
    # caller's context would read without the fence.
    assert _thread_calls() == []
