"""The URL grammar (``tercet.storage.paths``) on its own: what a URL names, and how URLs are
normalised, joined, resolved and compared. Every reference Tercet stores and every fence check
goes through these, so each case asserts the exact URL a user would see."""

from __future__ import annotations

import os

import pytest

from tercet import storage

HOME = os.path.expanduser("~")
CWD = os.getcwd()


@pytest.mark.parametrize(
    ("url", "scheme", "local"),
    [
        ("/data/x", "file", True),
        ("data/x", "file", True),
        ("file:///data/x", "file", True),
        ("FILE:///data/x", "file", True),
        ("s3://b/k", "s3", False),
        ("S3://b/k", "s3", False),
        ("memory://x", "memory", False),
        ("gs://b/a://c", "gs", False),
    ],
)
def test_protocol_names_the_scheme_in_lower_case_and_file_for_local_paths(
    url: str, scheme: str, local: bool
) -> None:
    assert storage.protocol(url) == scheme
    assert storage.is_local(url) is local


@pytest.mark.parametrize(
    ("url", "absolute"),
    [
        ("/data/x", True),
        ("~/x", True),
        ("~", True),
        ("s3://b/k", True),
        ("git+ssh://h/x", True),
        ("z.9-a://b", True),
        ("data/x", False),
        ("./x", False),
        ("9s://b/k", False),
        (" s3://b/k", False),
        ("x/s3://b", False),
        ("s3:/b/k", False),
    ],
)
def test_is_absolute_means_a_scheme_a_root_or_home(url: str, absolute: bool) -> None:
    assert storage.is_absolute(url) is absolute


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/data/./a/../x/", "/data/x"),
        ("file:///data/a/../x", "/data/x"),
        ("~/p", os.path.join(HOME, "p")),
        ("rel/x", os.path.join(CWD, "rel", "x")),
        ("S3://b/p/./q/../x/", "s3://b/p/x"),
        ("s3://b//p///x", "s3://b/p/x"),
        ("memory://x/", "memory://x"),
        ("memory://", "memory://"),
        ("s3://b/k:v://w", "s3://b/k:v:/w"),
        ("s3://b/pX", "s3://b/pX"),  # only slashes are trimmed
        ("s3:///", "s3://"),
    ],
)
def test_normalize_gives_the_canonical_form(url: str, expected: str) -> None:
    assert storage.normalize(url) == expected


@pytest.mark.parametrize(
    ("url", "parts", "expected"),
    [
        ("/data", ("a", "b.json"), "/data/a/b.json"),
        ("/data/", ("a",), "/data/a"),
        ("s3://b/p/", ("/t/", "x.json"), "s3://b/p/t/x.json"),
        ("s3://b/p", (), "s3://b/p"),
        ("memory://m", ("a/b",), "memory://m/a/b"),
        ("s3://b/X", ("Xa/", "bX"), "s3://b/X/Xa/bX"),  # only slashes are trimmed
    ],
)
def test_join_appends_segments(url: str, parts: tuple[str, ...], expected: str) -> None:
    assert storage.join(url, *parts) == expected


@pytest.mark.parametrize(
    ("url", "folder", "name"),
    [
        ("/data/a/x.json", "/data/a", "x.json"),
        ("/data/a/", "/data", "a"),
        ("/x", "/", "x"),
        ("/", "/", ""),
        ("s3://b/p/x.json", "s3://b/p", "x.json"),
        ("s3://b/p/t/", "s3://b/p", "t"),
        ("s3://b", "s3://", "b"),
        ("s3://b/k:v://w/x", "s3://b/k:v://w", "x"),  # a key may hold "://"
        ("/data/XX", "/data", "XX"),  # only slashes are trimmed, whatever the letters
        ("s3://b/p/XX/", "s3://b/p", "XX"),
    ],
)
def test_parent_and_basename(url: str, folder: str, name: str) -> None:
    assert storage.parent(url) == folder
    assert storage.basename(url) == name


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("s3://b/p/../q", "/ignored", "s3://b/q"),
        ("/data/a/../x", "s3://ignored", "/data/x"),
        ("x.json", "/data/a/", "/data/a/x.json"),
        ("../t/x.json", "/data/a/p", "/data/a/t/x.json"),
        ("../t/x.json", "file:///data/a/p", "/data/a/t/x.json"),
        ("../t/x.json", "S3://b/proj/p/", "s3://b/proj/t/x.json"),
        ("./x", "memory://m/a", "memory://m/a/x"),
        ("t/../../x", "s3://b/p", "s3://b/x"),
        ("f", "s3://b/odd://key", "s3://b/odd:/key/f"),  # "://" inside a key is only a key
    ],
)
def test_resolve_is_relative_to_the_base_folder(url: str, base: str, expected: str) -> None:
    assert storage.resolve(url, base) == expected


def test_resolve_without_a_base_uses_the_current_directory(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    here = os.getcwd()
    assert storage.resolve("a/../x.json") == os.path.join(here, "x.json")
    assert storage.resolve("s3://b/./k") == "s3://b/k"


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/data/a/t/x.json", "/data/a", "t/x.json"),
        ("/data/b/x.json", "/data/a", "../b/x.json"),
        ("file:///data/a/x", "/data/a/", "x"),
        ("s3://b/p/t/x.json", "s3://b/p", "t/x.json"),
        ("S3://b/p/t/x.json", "s3://b/p/", "t/x.json"),
        ("s3://b/q/x.json", "s3://b/p", "../q/x.json"),
        ("s3://b/p/q/x.json", "s3://b/p/q", "x.json"),
        ("s3://b/p/x.json", "s3://b/p/q", "../x.json"),
        ("s3://b", "s3://b/p", ".."),
        # another bucket, another store, another filesystem: the URL as given
        ("s3://other/p/x.json", "s3://b/p", "s3://other/p/x.json"),
        ("s3://b2/p/x.json", "s3://b/p", "s3://b2/p/x.json"),
        ("gs://b/p/x.json", "s3://b/p", "gs://b/p/x.json"),
        ("s3://b/p/x.json", "/data/a", "s3://b/p/x.json"),
        ("/data/a/x", "memory://m", "/data/a/x"),
    ],
)
def test_relative_to_stays_within_one_filesystem_and_bucket(
    url: str, base: str, expected: str
) -> None:
    assert storage.relative_to(url, base) == expected


@pytest.mark.parametrize(
    ("url", "root", "under"),
    [
        ("s3://b/projects", "s3://b/projects", True),
        ("s3://b/projects/x", "s3://b/projects/", True),
        ("s3://b/projects/", "s3://b/projects/", True),
        ("/", "/", True),
        ("/data", "/", True),
        ("s3://b/projects-x/y", "s3://b/projects", False),
        ("s3://b/project", "s3://b/projects", False),
        ("s3://b", "s3://b/projects", False),
        ("/data/ab", "/data/a", False),
        ("/data/X/y", "/data/X", True),
        ("s3://b/XX/y", "s3://b/XX/", True),
        ("/data/Y", "/data/X", False),  # a sibling of a root whose name ends like a separator
    ],
)
def test_is_under_holds_on_a_path_segment_boundary(url: str, root: str, under: bool) -> None:
    assert storage.is_under(url, root) is under
