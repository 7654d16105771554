"""The writing pass of an import reads a local bundle at the offsets its verifying pass found
(tar headers parsed once): a bundle changed between the two passes is still refused by checksum,
and nothing of the import stays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tercet import share
from tercet.errors import ShareError
from tercet.share import unpack
from tests.share.fixtures import snapshot


@pytest.mark.parametrize("which", ["largest", "image"])
def test_a_member_changed_after_verifying_is_refused_and_nothing_stays(
    bundle: Path,
    machine_b: Path,
    monkeypatch: pytest.MonkeyPatch,
    which: str,
) -> None:
    before = snapshot(machine_b)
    apply = unpack.apply
    seen: list[str] = []

    def change_then_apply(the_plan: Any, progress: Any) -> int:
        # the largest member: a data file written by streaming, after smaller ones were written;
        # the last image: a small file written in its hidden data folder by the writer thread
        sizes = the_plan.scan.sizes
        images = [n for n in sizes if n.endswith(".png")]
        name = max(sizes, key=lambda n: sizes[n]) if which == "largest" else images[-1]
        seen.append(name)
        with open(bundle, "r+b") as fh:
            fh.seek(the_plan.scan.offsets[name] + the_plan.scan.sizes[name] // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0xFF]))
        return apply(the_plan, progress)

    monkeypatch.setattr(unpack, "apply", change_then_apply)
    with pytest.raises(ShareError, match="changed since the bundle was verified") as err:
        share.import_bundle(str(bundle))
    assert seen and seen[0] in str(err.value)
    assert snapshot(machine_b) == before
