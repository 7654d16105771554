"""Bundle bombs: a few KiB of archive that declare huge members are refused on the tar header,
quickly and with flat memory (measured in a child process), before anything is written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from tercet import share
from tercet.errors import ShareError

GiB = 1 << 30
HEADER = json.dumps({"format": "tercet.bundle", "format_version": 1}).encode()


def sparse_bundle(tmp_path: Path, member: str) -> Path:
    """A bundle whose ``member`` is a 1 GiB sparse file (GNU tar): about 10 KiB on disk."""
    if shutil.which("tar") is None:
        pytest.skip("GNU tar is needed to write a sparse archive")
    src = tmp_path / "src"
    (src / member).parent.mkdir(parents=True, exist_ok=True)
    (src / "bundle.json").write_bytes(HEADER)
    with open(src / member, "wb") as fh:
        fh.write(b"{")
        fh.truncate(GiB)  # a hole: no disk used
    out = tmp_path / "bomb.tercet"
    subprocess.run(
        ["tar", "--format=gnu", "-S", "-cf", str(out), "-C", str(src), "bundle.json", member],
        check=True,
    )
    assert out.stat().st_size < 64 << 10
    return out


def import_in_child(bundle: Path, tmp_path: Path) -> tuple[str, int, int]:
    """Import ``bundle`` in a fresh process: its error, and its peak RSS before and after (KiB)."""
    code = textwrap.dedent(
        f"""
        import resource, sys
        from tercet import share
        from tercet.errors import ShareError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # No more than 1 GiB more address space than now: a reader that trusts the declared
        # size fails here instead of taking the machine's memory.
        import os
        vm = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))
        try:
            share.import_bundle({str(bundle)!r}, root={str(tmp_path / "target")!r})
            error = "imported"
        except ShareError as exc:
            error = str(exc)
        except MemoryError:
            error = "MemoryError"
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(before, after)
        print(error)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    lines = done.stdout.splitlines()
    assert len(lines) >= 2, done.stderr
    before, after = (int(x) for x in lines[0].split())
    return "\n".join(lines[1:]), before, after


@pytest.mark.parametrize(
    ("member", "rule"),
    [
        ("objects/demo/runs/r/object.json", "sparse file"),
        ("MANIFEST.json", "sparse file"),
        ("objects/demo/data/big.bin", "sparse file"),
    ],
)
def test_sparse_member_declaring_a_gibibyte_is_refused_with_flat_memory(
    tmp_path: Path, member: str, rule: str
) -> None:
    bomb = sparse_bundle(tmp_path, member)
    error, before, after = import_in_child(bomb, tmp_path)
    assert rule in error and repr(member) in error, error
    assert after - before < 64 << 10, f"peak RSS grew by {(after - before) >> 10} MiB"
    assert not (tmp_path / "target").exists()


def raw_member(name: str, declared: int, body: bytes) -> bytes:
    """A tar member whose header declares ``declared`` bytes, followed by only ``body``."""
    info = tarfile.TarInfo(name)
    info.size = declared
    return info.tobuf(tarfile.GNU_FORMAT) + body + b"\0" * (-len(body) % 512)


def plain_member(name: str, data: bytes) -> bytes:
    return raw_member(name, len(data), data)


@pytest.mark.parametrize(
    ("name", "declared", "rule"),
    [
        ("objects/demo/runs/r/object.json", GiB, "more than the 4,194,304 a descriptor"),
        ("objects/demo/runs/r/events/e.json", 64 << 20, "a JSON file may hold"),
        ("objects/demo/aliases.yaml", 8 << 20, "a project aliases file may hold"),
        ("MANIFEST.json", 512 << 20, "a manifest may hold"),
        ("objects/demo/data/x.png", GiB, "only"),  # more than the bundle holds
    ],
)
def test_member_declaring_more_than_its_cap_is_refused_on_its_header(
    tmp_path: Path, name: str, declared: int, rule: str
) -> None:
    bomb = tmp_path / "bomb.tercet"
    bomb.write_bytes(
        plain_member("bundle.json", HEADER) + raw_member(name, declared, b"{" * 4096) + b"\0" * 1024
    )
    # The message names the bundle first: an object member's refusal as much as the manifest's.
    where = re.escape(str(bomb))
    with pytest.raises(
        ShareError, match=rf"^{where}: member '{name}' declares {declared:,} bytes.*{rule}"
    ):
        share.import_bundle(str(bomb), root=str(tmp_path / "target"))
    assert not (tmp_path / "target").exists()


def test_oversized_pax_header_is_refused(tmp_path: Path) -> None:
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 256 << 20
    bomb = tmp_path / "bomb.tercet"
    bomb.write_bytes(
        plain_member("bundle.json", HEADER) + pax.tobuf(tarfile.USTAR_FORMAT) + b"x" * 4096
    )
    with pytest.raises(ShareError, match=r"tar metadata block .* declares 268,435,456 bytes"):
        share.import_bundle(str(bomb), root=str(tmp_path / "target"))


def test_manifest_cap_grows_with_the_members_it_lists(tmp_path: Path) -> None:
    """A real bundle's manifest passes; one padded far past what its members need does not."""
    members = [plain_member("bundle.json", HEADER)]
    members += [plain_member(f"objects/demo/data/{i}.png", b"x") for i in range(50)]
    manifest = {"format": "tercet.bundle", "format_version": 1, "pad": "x" * (3 << 20)}
    members.append(plain_member("MANIFEST.json", json.dumps(manifest).encode()))
    bomb = tmp_path / "bomb.tercet"
    bomb.write_bytes(b"".join(members) + b"\0" * 1024)
    with pytest.raises(ShareError, match=r"'MANIFEST.json' declares .* a manifest may hold"):
        share.import_bundle(str(bomb), root=str(tmp_path / "target"))
