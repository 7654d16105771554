"""The verifying pass (:mod:`tercet.share.verify`) over one bundle crafted many ways: what a
scan returns, and each refusal named exactly (bundle, member, rule)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tercet.errors import ShareError
from tests.share.crafting import members_of, write_tar


def first_image(name: str) -> bool:
    return name.endswith("/img/0.png")


# -- the verifying pass (tercet.share.verify), on one bundle crafted many ways --------------------
class _Recorder:
    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.advanced = 0

    def start(self, description: str, total: int) -> None:
        self.started.append((description, total))

    def advance(self, amount: int = 1) -> None:
        self.advanced += amount


def test_scan_returns_what_it_verified_and_names_each_refusal(bundle: Path, tmp_path: Path) -> None:
    from tercet.share import verify
    from tests.share.crafting import craft, with_footer_table

    url = str(bundle)
    good = members_of(bundle)
    names = [n for n, _ in good]
    recorder = _Recorder()
    scan = verify.scan(url, recorder)
    listed = {f["name"]: f["size"] for f in scan.manifest["files"]}
    assert scan.url == url and scan.sizes == listed
    # Where each object member's bytes start, in archive order: a local import reads them there.
    assert list(scan.offsets) == [n for n in names if n in scan.sizes]
    with bundle.open("rb") as fh:
        for name, offset in scan.offsets.items():
            fh.seek(offset)
            assert fh.read(scan.sizes[name]) == dict(good)[name], name
    assert set(scan.sizes) == set(names) - {"bundle.json", "MANIFEST.json"}
    assert recorder.started == [("Verifying", bundle.stat().st_size)]
    assert recorder.advanced == sum(listed.values())
    paths = {o["path"] for o in scan.manifest["objects"]}
    assert set(scan.descriptors) == paths
    for path in paths:
        assert scan.descriptors[path] == dict(good)[f"objects/{path}/object.json"]
    assert scan.project_aliases == []
    with_aliases = craft(bundle, tmp_path / "a.tercet", add=[("objects/demo/aliases.yaml", b"{}")])
    assert verify.scan(str(with_aliases)).project_aliases == ["objects/demo/aliases.yaml"]

    image = next(n for n in names if first_image(n))
    descriptor = next(n for n in names if n.endswith("/object.json"))
    n = 0

    def refused(members: list[tuple[str, bytes]] | Path, message: str) -> None:
        nonlocal n
        n += 1
        path = members if isinstance(members, Path) else write_tar(tmp_path / f"{n}.tar", members)
        with pytest.raises(ShareError) as err:
            verify.scan(str(path))
        assert str(err.value) == message.replace("URL", str(path))

    incomplete = (
        "the bundle is incomplete (truncated while copying?). Copy it again, or export it again."
    )
    refused(
        good[1:],
        "URL is not a Tercet bundle: it does not start with bundle.json. "
        "Create bundles with `tercet share export`.",
    )
    refused(
        [*good, ("objects/demo/x.png", b"x")],
        "URL: member 'objects/demo/x.png' follows "
        "the manifest; the bundle was altered after export. Export it again.",
    )
    refused(
        [good[0], ("notes.txt", b"x"), *good[1:]],
        "URL: unexpected member 'notes.txt'; the bundle is damaged or was not made by Tercet.",
    )
    refused(good[:-1], f"URL has no MANIFEST.json: {incomplete}")
    refused(
        [g for g in good if g[0] != image],
        f"URL lacks 1 file(s) its manifest lists, e.g. {image}: {incomplete}",
    )
    refused(
        [
            *good[:-1],
            ("objects/demo/data/b.png", b"x"),
            ("objects/demo/data/a.png", b"y"),
            good[-1],
        ],
        "URL holds 2 file(s) its manifest does not list, e.g. "
        "objects/demo/data/a.png: it was altered after export. Export it again.",
    )
    sha = next(f["sha256"] for f in scan.manifest["files"] if f["name"] == image)
    flipped = [(nm, d[:-1] + bytes([d[-1] ^ 1]) if nm == image else d) for nm, d in good]
    found = hashlib.sha256(dict(flipped)[image]).hexdigest()
    refused(
        flipped,
        f"URL: {image} does not match its checksum in the manifest (sha256 "
        f"{sha[:12]}…, found {found[:12]}…): the bundle was damaged or altered. Copy or "
        "export it again.",
    )

    def longer(doc: dict[str, Any]) -> None:
        for f in doc["files"]:
            if f["name"] == image:
                f["size"] += 1

    refused(
        craft(bundle, tmp_path / "size.tercet", manifest=longer),
        f"URL: {image} does not match its checksum in the manifest (sha256 {sha[:12]}…, "
        f"found {sha[:12]}…): the bundle was damaged or altered. Copy or export it again.",
    )
    obj = descriptor[len("objects/") : -len("/object.json")]
    refused(
        craft(bundle, tmp_path / "nodesc.tercet", lambda nm, d: None if nm == descriptor else d),
        f"URL: object {obj} has no object.json in the bundle. Export it again.",
    )
    refused(
        craft(bundle, tmp_path / "json.tercet", lambda nm, d: b"{" if nm == descriptor else d),
        f"URL: {obj}/object.json is not valid JSON. The bundle is damaged.",
    )
    refused(
        craft(bundle, tmp_path / "utf.tercet", lambda nm, d: b"\xff" if nm == descriptor else d),
        f"URL: {obj}/object.json is not valid JSON. The bundle is damaged.",
    )
    for desc in (n for n in names if n.endswith("/object.json")):
        kind, where = ("run" if "/runs/" in desc else "table"), desc[len("objects/") :]

        def not_one(name: str, data: bytes, desc: str = desc) -> bytes:
            return b"[]" if name == desc else data

        refused(
            craft(bundle, tmp_path / "fmt.tercet", not_one),
            f"URL: {where} is not a Tercet {kind} descriptor (no 'format': 'tercet.{kind}'). "
            "The bundle is damaged.",
        )
    # A table holds no metrics: its Parquet files are refused as such, never read as footers.
    table = next(o["path"] for o in scan.manifest["objects"] if o["kind"] == "table")
    odd = f"objects/{table}/metrics/x.parquet"
    refused(
        craft(bundle, tmp_path / "odd.tercet", add=[(odd, b"not parquet")]),
        f"URL: member {odd!r} is not a file a table holds (object.json, rows/*.parquet, "
        "delta.parquet). The bundle was crafted or damaged; nothing was written.",
    )
    link = tarfile.TarInfo("objects/demo/data/link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    linked = tmp_path / "link.tar"
    with tarfile.open(linked, "w") as tar:
        for name, data in good[:2]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.addfile(link)
    refused(
        linked,
        "URL: member 'objects/demo/data/link.png' is not a regular file (links and "
        "devices are never part of a bundle). Do not import it.",
    )
    refused(tmp_path / "none.tar", "No bundle at URL: the file does not exist.")
    event = next(nm for nm in names if "/events/" in nm and nm.endswith(".json"))
    out = "../../../mine/datasets/d/tables/t"
    evil = json.dumps({"type": "input", "table": out}).encode()
    refused(
        craft(bundle, tmp_path / "ev.tercet", lambda nm, d: evil if nm == event else d),
        f"URL: {event}: input table {out!r} leads out of its project 'demo' (it resolves to "
        "'mine/datasets/d/tables/t'). A bundle's objects may only refer inside their own "
        "project; this one was crafted or damaged. Nothing was written.",
    )
    metrics = next(nm for nm in names if "/metrics/" in nm and "/epoch-" in nm)
    footer = craft(
        bundle,
        tmp_path / "ft.tercet",
        lambda nm, d: with_footer_table(d, out) if nm == metrics else d,
    )
    refused(
        footer,
        f"URL: {metrics}: footer table {out!r} leads out of its project 'demo' (it "
        "resolves to 'mine/datasets/d/tables/t'). A bundle's objects may only refer inside "
        "their own project; this one was crafted or damaged. Nothing was written.",
    )


def test_scan_caps_the_descriptors_it_holds_and_sizes_the_manifest_cap_by_what_precedes_it(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tercet.share import limits, verify

    good = members_of(bundle)
    body = good[1:-1]
    held = sum(len(d) for n, d in body if n.endswith("/object.json"))
    asked: list[tuple[int, int]] = []
    real_cap = limits.manifest_cap

    def manifest_cap(members: int, names: int) -> int:
        asked.append((members, names))
        return real_cap(members, names)

    monkeypatch.setattr(limits, "manifest_cap", manifest_cap)
    monkeypatch.setattr(limits, "DESCRIPTORS", held)
    verify.scan(str(bundle))  # exactly at the cap
    assert asked == [(len(body), sum(len(n) for n, _ in body))]
    monkeypatch.setattr(limits, "DESCRIPTORS", held - 1)
    with pytest.raises(ShareError) as err:
        verify.scan(str(bundle))
    assert str(err.value) == (
        f"{bundle}: its descriptors (object.json files) add up to more than {held - 1:,} bytes. "
        "The bundle was crafted or damaged."
    )


def _raw(name: str, declared: int, body: bytes) -> bytes:
    """A tar member whose header declares ``declared`` bytes, followed by only ``body``."""
    info = tarfile.TarInfo(name)
    info.size = declared
    return info.tobuf(tarfile.GNU_FORMAT) + body + b"\0" * (-len(body) % 512)


def test_the_header_and_the_manifest_are_checked_against_their_caps_and_the_file(
    bundle: Path, tmp_path: Path
) -> None:
    from tercet.share import limits, verify

    good = members_of(bundle)
    header = good[0][1]

    def scanned(*parts: bytes) -> str:
        path = tmp_path / "raw.tercet"
        path.write_bytes(b"".join(parts))
        with pytest.raises(ShareError) as err:
            verify.scan(str(path))
        return str(err.value)

    big = scanned(_raw("bundle.json", limits.HEADER + 1, header))
    assert (
        f"declares {limits.HEADER + 1:,} bytes, more than the {limits.HEADER:,} a bundle header"
        in big
    )
    cut = scanned(_raw("bundle.json", 4096, header[:100]))
    left = (tmp_path / "raw.tercet").stat().st_size - 512  # what follows the member's header
    assert f"member 'bundle.json' declares 4,096 bytes but only {left:,} follow" in cut
    manifest = scanned(_raw("bundle.json", len(header), header), _raw("MANIFEST.json", 8192, b"{}"))
    left = (tmp_path / "raw.tercet").stat().st_size - 512 - len(_raw("bundle.json", 0, header))
    assert f"member 'MANIFEST.json' declares 8,192 bytes but only {left:,} follow" in manifest
