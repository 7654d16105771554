"""Temp files of killed writers are swept: by the Object Service's scan and by ``tercet gc``.

A write goes through a hidden ``.tmp-*`` file (local disk) or a multipart upload (S3); a writer
killed in between left it behind forever. Now a sweep removes those older than a minimum age
(``service.tmp_sweep_age``, ``--older-than``), and never a younger one, one whose writer is
still running, a file that is not a Tercet temp file, or a published object.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tercet import storage
from tercet.cli import app
from tercet.localfile import TMP_PREFIX, host_tag
from tercet.storage.sweep import sweep
from tests.fixtures.service import StartService, make_table, snapshot
from tests.security import bounded

DAY = 86400
WRITER = """
import sys, time
from tercet import storage
with storage.open_atomic(sys.argv[1]) as fh:
    fh.write(b"half of an object")
    fh.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


def killed_writer(target: Path) -> Path:
    """Start a real writer of ``target``, kill it mid-write; return the temp file it left."""
    env = {**os.environ, "PYTHONPATH": f"{bounded.REPO / 'src'}{os.pathsep}{bounded.REPO}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    (left,) = [p for p in target.parent.iterdir() if p.name.startswith(TMP_PREFIX)]
    assert f"-p{proc.pid}-h{host_tag()}-" in left.name  # the name says who wrote it
    return left


def age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def project_with_leftovers(root: Path) -> tuple[Path, Path, Path, Path]:
    """A project plus: an old and a fresh leftover of killed writers, an old temp file of a writer
    still running (this process), and a user's own file that merely looks hidden."""
    table = make_table(n=20)
    folder = Path(table.url)
    old = age(killed_writer(folder / "rows" / "part-99999.parquet"), 2 * DAY)
    fresh = killed_writer(folder / "notes.json")
    alive = folder / f".tmp-p{os.getpid()}-h{host_tag()}-0123456789ab-x.json"
    alive.write_bytes(b"in progress")
    foreign = root / "demo" / ".tmp-mine.txt"
    foreign.write_text("not Tercet's")
    for path in (alive, foreign):
        age(path, 3 * DAY)
    return old, fresh, alive, foreign


def objects(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not Path(k).name.startswith(TMP_PREFIX)}


def test_the_service_scan_sweeps_old_leftovers_only(
    root: Path, start_service: StartService
) -> None:
    old, fresh, alive, foreign = project_with_leftovers(root)
    before = objects(root)

    service = start_service(tmp_sweep_age=DAY)
    service.scan()  # the first scan starts a sweep (on its own thread); later ones hourly
    sweeper = service.app.state.ctx.index.sweeper
    assert sweeper is not None
    sweeper.join(30)

    assert not old.exists()
    assert fresh.exists() and alive.exists() and foreign.exists()
    assert objects(root) == before
    assert service.client.get("/api/projects/demo/tables").json()[0]["error"] is None


def test_the_service_does_not_sweep_when_turned_off(
    root: Path, start_service: StartService
) -> None:
    old, *_ = project_with_leftovers(root)
    service = start_service(tmp_sweep_age=0)
    service.scan()
    assert service.app.state.ctx.index.sweeper is None
    assert old.exists()


def test_tercet_gc_dry_run_then_sweep(root: Path) -> None:
    old, fresh, alive, foreign = project_with_leftovers(root)
    before = objects(root)
    runner = CliRunner()

    dry = runner.invoke(app, ["gc", str(root), "--dry-run"], env={"COLUMNS": "300"})
    assert dry.exit_code == 0, dry.output
    assert "would remove" in dry.output and "Would remove 1 (of 3) leftovers" in dry.output
    assert old.exists()

    done = runner.invoke(app, ["gc", str(root)], env={"COLUMNS": "300"})
    assert done.exit_code == 0, done.output
    assert "Removed 1 (of 3) leftovers" in done.output
    assert "kept: writer alive" in done.output and "kept: too young" in done.output
    assert not old.exists() and fresh.exists() and alive.exists() and foreign.exists()

    young = runner.invoke(app, ["gc", str(root), "--older-than", "0s"], env={"COLUMNS": "300"})
    assert young.exit_code == 0, young.output
    assert not fresh.exists() and alive.exists() and foreign.exists()  # the live writer's stays
    assert objects(root) == before


def test_gc_refuses_an_age_it_cannot_read(root: Path) -> None:
    result = CliRunner().invoke(app, ["gc", str(root), "--older-than", "soon"])
    assert result.exit_code != 0
    assert "not an age" in str(result.exception) + result.output


@pytest.mark.s3
def test_sweep_on_s3_removes_leftovers_and_unfinished_uploads(s3_root: str) -> None:
    table = make_table(n=20)
    fs, _ = storage.filesystem(s3_root)
    leftover = storage.join(table.url, ".tmp-p1-h00000000-0123456789ab-object.json")
    fs.pipe_file(leftover.removeprefix("s3://"), b"{")
    bucket, key = f"{s3_root}/demo/big.parquet".removeprefix("s3://").split("/", 1)
    fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    published = sorted(storage.walk_files(s3_root))

    young = sweep(s3_root, older_than=3600, dry_run=True)
    assert young.found[0].url == leftover and young.found[0].action == "kept: too young"
    # (moto dates every upload 2010, so this one already looks a day old)
    assert young.found[1].url.endswith("demo/big.parquet (unfinished upload)")

    done = sweep(s3_root, older_than=0)
    assert len(done.removed) == 2
    assert not fs.exists(leftover.removeprefix("s3://"))
    assert fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", []) == []
    assert sorted(storage.walk_files(s3_root)) == published
    assert len(table.to_arrow()) == 20
