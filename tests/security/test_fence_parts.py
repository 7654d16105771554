"""The storage fence's parts one by one: the canonical form it compares, its roots, what its
refusals say (action, URL, resolution, roots), and how it travels (``fenced``, ``data_files``,
``guard``, ``carry``, :class:`~tercet.storage.FencedExecutor`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tercet import storage
from tercet.errors import OutsideRootsError


# -- what the fence compares, and what its refusals say ------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3a://b/p/x", "s3://b/p/x"),
        ("gcs://b/p/x", "gs://b/p/x"),
        ("abfs://c/p/x", "az://c/p/x"),
        ("abfss://c/p/x", "az://c/p/x"),
        ("GS://b/p/./q/../x/", "gs://b/p/x"),
        ("memory://b/p", "memory://b/p"),
    ],
)
def test_canonical_folds_scheme_aliases_and_dots(url: str, expected: str) -> None:
    assert storage.canonical(url) == expected
    fence = storage.Fence([expected])
    assert fence.allows(url)
    assert fence.check(url) == expected


def test_canonical_local_paths_are_real_paths(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "p").mkdir(parents=True)
    outside.mkdir()
    (root / "p" / "link-dir").symlink_to(outside)
    assert storage.canonical(f"file://{root}/p/../p/ok.json") == str(root / "p" / "ok.json")
    assert storage.canonical(str(root / "p" / "link-dir" / "x")) == str(outside.resolve() / "x")


def test_roots_are_canonical_and_files_add_to_the_objects() -> None:
    fence = storage.Fence(["s3a://b/p/"], files=["GCS://b/img/"])
    assert fence.roots() == ["s3://b/p"]
    assert fence.roots("objects") == ["s3://b/p"]
    assert fence.roots("files") == ["s3://b/p", "gs://b/img"]
    asked: list[int] = []

    def files() -> list[str]:
        asked.append(1)
        return ["s3://b/later"]

    later = storage.Fence(["s3://b/p"], files=files)
    assert later.roots("files") == ["s3://b/p", "s3://b/later"]
    assert later.roots("objects") == ["s3://b/p"] and asked == [1]  # asked at each files check
    assert later.allows("s3://b/later/a.png", "files")
    assert not later.allows("s3://b/later/a.png")


@pytest.mark.parametrize("url", ["http://h/p/x.json", "https://h/p/x.json", "HTTPS://h/p/x.json"])
def test_http_is_never_inside_the_fence(url: str) -> None:
    fence = storage.Fence(["http://h/p", "https://h/p"], files=["http://h", "https://h"])
    assert not fence.allows(url)
    assert not fence.allows(url, "files")


@pytest.mark.parametrize("url", [123, None, "", "/data/a\x00b"])
def test_a_value_that_is_not_a_url_is_refused_by_name(url: Any) -> None:
    with pytest.raises(OutsideRootsError) as err:
        storage.Fence(["/data"]).check(url, action="stat")
    assert str(err.value) == f"Refused to stat {url!r}: not a URL."


def test_a_refusal_names_the_action_the_url_its_resolution_and_the_roots() -> None:
    fence = storage.Fence(["s3://b/projects"], files=["s3://b/images"])
    with pytest.raises(OutsideRootsError) as err:
        fence.check("s3://b/other/x.json", action="list")
    assert str(err.value) == (
        "Refused to list s3://b/other/x.json: it lies outside the project roots. A reference "
        "stored in an object cannot lead out of the roots the service serves."
    )
    with pytest.raises(OutsideRootsError) as err:
        fence.check("s3a://b/projects/../x.png", "files")
    assert str(err.value).startswith(
        "Refused to read s3a://b/projects/../x.png (resolved: s3://b/x.png): it lies outside "
        "the folders this service may read."
    )


def test_fenced_none_keeps_the_active_fence_and_scopes_are_restored(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(b"png")
    outer = storage.Fence([str(tmp_path / "root")], files=[str(images)])
    inner = storage.Fence([str(tmp_path / "root")], files=[str(images)])
    assert storage.fence.active() is None
    with storage.fenced(outer) as got:
        assert got is outer and storage.fence.active() is outer
        with storage.fenced(None) as kept:
            assert kept is outer and storage.fence.active() is outer
        with storage.data_files():
            with storage.fenced(inner):  # a new fence starts with object reads
                assert storage.fence.active() is inner
                with pytest.raises(OutsideRootsError, match="^Refused to read .*project roots"):
                    storage.read_bytes(str(images / "a.png"))
            assert storage.fence.active() is outer
            assert storage.read_bytes(str(images / "a.png")) == b"png"  # data scope is back
        with pytest.raises(OutsideRootsError):
            storage.read_bytes(str(images / "a.png"))
    assert storage.fence.active() is None
    with storage.fenced(None) as none:
        assert none is None
    assert storage.read_bytes(str(images / "a.png")) == b"png"  # no fence: anywhere


def test_guard_names_the_action_and_writes_and_removals_ignore_the_file_roots(
    tmp_path: Path,
) -> None:
    images = str(tmp_path / "images")
    fence = storage.Fence([str(tmp_path / "root")], files=[images])
    storage.fence.guard(f"{images}/a.png", "remove")  # no fence: nothing to refuse
    storage.fence.guard_all([f"{images}/a.png"], "write")
    with storage.fenced(fence):
        with storage.data_files():
            storage.fence.guard(f"{images}/a.png")
            with pytest.raises(OutsideRootsError, match=r"^Refused to read .*folders this service"):
                storage.fence.guard(str(tmp_path / "elsewhere.png"))
            with pytest.raises(OutsideRootsError, match=r"^Refused to read .*folders this service"):
                storage.fence.guard_all([str(tmp_path / "elsewhere.png")])
            storage.fence.guard(f"{images}/a.png", "stat")
            storage.fence.guard_all([f"{images}/a.png", f"{images}/b.png"], "list")
            for action in storage.fence.WRITES:
                with pytest.raises(
                    OutsideRootsError, match=f"^Refused to {action} .*project roots"
                ):
                    storage.fence.guard(f"{images}/a.png", action)
            with pytest.raises(OutsideRootsError, match=r"^Refused to write .*b\.png"):
                storage.fence.guard_all([str(tmp_path / "root" / "x"), f"{images}/b.png"], "write")
        with pytest.raises(OutsideRootsError, match=r"^Refused to list .*a\.png.*project roots"):
            storage.fence.guard_all([f"{images}/a.png"], "list")
    assert storage.fence.WRITES == ("write", "remove")


def test_carry_and_the_executor_pass_arguments_and_results() -> None:
    fence = storage.Fence(["s3://b/p"])

    def current(a: int, *, b: int) -> tuple[Any, int]:
        return storage.fence.active(), a + b

    with storage.fenced(fence):
        carried = storage.carry(current)
        with storage.FencedExecutor(1) as pool:
            assert pool.submit(current, 1, b=2).result() == (fence, 3)
    assert carried(2, b=3) == (fence, 5)  # the caller's fence, even after it was left
    assert current(1, b=1) == (None, 2)
