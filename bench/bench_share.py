"""Sharing benchmark: export of a run with 1,000,000 table rows and 10,000 images, against ``tar``.

The run reads two tables: ``images`` (10,000 rows, an image column under ``<BENCH_DATA>``, and a
derived revision with relabelled rows) and ``features`` (990,000 rows: label, score, a 16-d
embedding), and holds one metrics file per table. ``tercet share export --include-data`` (objects
walked, every file checksummed, image URLs rewritten into the bundle) is timed against GNU
``tar -cf`` of exactly the same files (and, for reference, tar followed by an fdatasync; the
export publishes atomically but does not fsync, since a bundle can be made again). Target: within
1.5x of tar. ``tercet share import`` of the bundle (every member checksummed twice, files durable
before any object is published, all or nothing) is timed against ``tar -xf`` of the tar of the
same files into an empty folder. Target: within 1.5x. Wall and CPU seconds are both printed, with
their ratios: on a shared machine the CPU ratio is the steadier one.

Run: ``python bench/bench_share.py`` (``BENCH_IMAGES``/``BENCH_ROWS`` scale it down).
"""

from __future__ import annotations

import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from targets import Targets

IMAGES = int(os.environ.get("BENCH_IMAGES", 10_000))
ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
REPEAT = 3
TARGET = 1.5


def cpu() -> float:
    """CPU seconds of this process (all threads) and of its finished children (tar)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best(
    *fns: Callable[[], object], before: Callable[[], object] | None = None
) -> list[tuple[float, float]]:
    """Best wall-clock and CPU time of each function. The runs alternate, so load from other
    processes on the machine falls on all of them alike."""
    times: list[list[tuple[float, float]]] = [[] for _ in fns]
    for _ in range(REPEAT):
        for fn, spent in zip(fns, times, strict=True):
            if before is not None:
                before()
            t0, c0 = time.perf_counter(), cpu()
            fn()
            spent.append((time.perf_counter() - t0, cpu() - c0))
    return [(min(w for w, _ in t), min(c for _, c in t)) for t in times]


def make_images(folder: Path) -> None:
    rng = np.random.default_rng(0)
    # A handful of distinct 64x64 PNGs (~12 KB each) written under 10,000 names: encoding each
    # one separately would dominate the set-up time without changing what is measured.
    encoded = []
    for _ in range(16):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
        encoded.append(buf.getvalue())
    for i in range(IMAGES):
        sub = folder / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:05d}.png").write_bytes(encoded[i % len(encoded)])


def make_run(tmp: Path) -> str:
    import tercet

    data = tmp / "data"
    make_images(data)
    tercet.aliases.set("BENCH_DATA", str(data))
    n_img = IMAGES
    images = tercet.Table.create(
        {
            "image": [str(data / f"{i // 1000:02d}" / f"{i:05d}.png") for i in range(n_img)],
            "label": pa.array(np.arange(n_img) % 10, pa.int32()),
        },
        project="bench",
        dataset="shapes",
        name="images",
        roles={"image": "image", "label": "label"},
    )
    images = images.set_values("label", list(range(0, n_img, 100)), 3, message="relabel")
    rng = np.random.default_rng(1)
    n_feat = ROWS - n_img
    features = tercet.Table.create(
        {
            "label": pa.array(rng.integers(0, 10, n_feat).astype(np.int32)),
            "score": rng.random(n_feat),
            "embedding": rng.normal(size=(n_feat, 16)).astype(np.float32),
        },
        project="bench",
        dataset="shapes",
        name="features",
        roles={"label": "label"},
    )
    run = tercet.Run.create(project="bench", name="baseline", parameters={"lr": 0.1})
    for i, table in enumerate((images, features)):
        n = table.num_rows
        metrics = {
            "example_id": table.example_ids(),
            "loss": rng.random(n).astype(np.float32),
            "prediction": rng.integers(0, 10, n).astype(np.int32),
        }
        run.write_metrics(table, metrics, epoch=0, split=f"s{i}", roles={"loss": "loss"})
    run.close()
    return run.url


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-share-"))
    os.environ["TERCET_CONFIG"] = str(tmp / "config.yaml")
    os.environ["TERCET_ROOT"] = str(tmp / "root")
    try:
        import tercet
        from tercet import share
        from tercet.share import graph

        t0 = time.perf_counter()
        run = make_run(tmp)
        print(f"set-up: {time.perf_counter() - t0:.1f} s")
        g = graph.walk([run])
        files = [f"{n.url}/{f}" for n in g.objects.values() for f in n.files]
        files += sorted(str(p) for p in (tmp / "data").rglob("*.png"))
        list_file = tmp / "files.txt"
        list_file.write_text("\n".join(files) + "\n")
        total = sum(os.path.getsize(f) for f in files)
        rows = sum(
            int(n.descriptor.get("num_rows", 0))
            for n in g.objects.values()
            if n.kind == "table" and n.descriptor.get("rows")
        )
        bundle, tarball = tmp / "run.tercet", tmp / "run.tar"

        def clear() -> None:
            for p in (bundle, tarball):
                p.unlink(missing_ok=True)

        def export() -> None:
            share.export_bundle([run], str(bundle), include_data=True)

        def tar() -> None:
            subprocess.run(["tar", "-cf", str(tarball), "-P", "-T", str(list_file)], check=True)

        def tar_synced() -> None:
            # What the export also does: make the archive durable before it appears.
            tar()
            subprocess.run(["sync", "-d", str(tarball)], check=True)

        (t_tar, c_tar), (t_sync, c_sync), (t_export, c_export) = best(
            tar, tar_synced, export, before=clear
        )
        clear()
        export()
        tar()
        sizes = (bundle.stat().st_size, tarball.stat().st_size)

        os.environ["TERCET_CONFIG"] = str(tmp / "b-config.yaml")
        target = tmp / "b-root"
        tercet.aliases.clear()

        def fresh() -> None:
            shutil.rmtree(target, ignore_errors=True)

        def untar() -> None:
            target.mkdir()
            subprocess.run(["tar", "-xf", str(tarball), "-C", str(target)], check=True)

        (t_untar, c_untar), (t_import, c_import) = best(
            untar, lambda: share.import_bundle(str(bundle), root=str(target)), before=fresh
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\n{rows:,} source-table rows, {IMAGES:,} images, {len(files):,} files, "
        f"{total / 1e6:.1f} MB; best of {REPEAT}, load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"{'':32} {'wall s':>7} {'CPU s':>7} {'MB':>7} {'MB/s':>7}")
    rows_out = [
        ("tar -cf (same files)", t_tar, c_tar, sizes[1]),
        ("tar -cf, then fdatasync", t_sync, c_sync, sizes[1]),
        ("tercet share export", t_export, c_export, sizes[0]),
        ("tar -xf (same files)", t_untar, c_untar, sizes[1]),
        ("tercet share import", t_import, c_import, sizes[0]),
    ]
    for name, wall, spent, size in rows_out:
        print(f"{name:32} {wall:7.2f} {spent:7.2f} {size / 1e6:7.1f} {total / 1e6 / wall:7.0f}")
    targets = Targets(f"share targets, {len(files):,} files, {total / 1e6:.1f} MB")
    targets.ratio("export --include-data (wall)", t_export, t_tar, TARGET, baseline_is="tar -cf")
    targets.info("export --include-data (CPU)", c_export, baseline=c_tar, baseline_is="tar -cf")
    targets.info("export (wall)", t_export, baseline=t_sync, baseline_is="tar -cf, then fdatasync")
    targets.ratio("import (wall)", t_import, t_untar, TARGET, baseline_is="tar -xf")
    targets.info("import (CPU)", c_import, baseline=c_untar, baseline_is="tar -xf")
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
