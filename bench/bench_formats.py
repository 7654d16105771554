"""Dataset formats benchmark: COCO at train2017's scale, YOLO with 100,000 label files.

1. A synthetic COCO file shaped like instances_train2017.json (118,287 images, ~860,000 objects
   with 8-point polygons, 1% crowd regions as uncompressed RLE): ``Table.from_coco`` against
   ``pycocotools.COCO()`` loading the same file. Target: at most 2x its time.
2. A YOLO detection split of 100,000 images (one tiny PNG hard-linked) and label files of ~7
   objects each: ``Table.from_yolo``. Target: at least 20,000 images/s. Beside it, in the same
   run, the floor a plain Python loop gets: list the folder and read every label file and every
   image's first 4 KiB, one process. Its ratio to the import does not depend on the load of the
   machine the way images/s does.
3. The COCO table exported back to COCO (seconds, and the file loads in pycocotools).

``BENCH_SCALE=0.1`` runs a tenth of the sizes; ``BENCH_PARTS=yolo`` only the YOLO part.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from targets import Targets

SCALE = float(os.environ.get("BENCH_SCALE", 1.0))
N_IMAGES = int(118_287 * SCALE)
N_OBJECTS = int(860_001 * SCALE)
N_YOLO = int(100_000 * SCALE)
PARTS = os.environ.get("BENCH_PARTS", "coco,yolo").split(",")


def make_coco(path: Path) -> None:
    rng = np.random.default_rng(0)
    image_of = np.sort(rng.integers(1, N_IMAGES + 1, N_OBJECTS))
    xy = rng.uniform(0, 500, (N_OBJECTS, 2)).round(2)
    wh = rng.uniform(2, 120, (N_OBJECTS, 2)).round(2)
    cats = rng.integers(1, 81, N_OBJECTS)
    crowd = rng.random(N_OBJECTS) < 0.01
    anns = []
    for k in range(N_OBJECTS):
        x, y = xy[k]
        w, h = wh[k]
        if crowd[k]:
            seg: object = {
                "size": [480, 640],
                "counts": [
                    int(y) + 480 * int(x),
                    30,
                    450,
                    30,
                    480 * 640 - int(y) - 480 * int(x) - 510,
                ],
            }
        else:
            seg = [
                [
                    x,
                    y,
                    x + w / 2,
                    y - 1,
                    x + w,
                    y,
                    x + w + 1,
                    y + h / 2,
                    x + w,
                    y + h,
                    x + w / 2,
                    y + h + 1,
                    x,
                    y + h,
                    x - 1,
                    y + h / 2,
                ]
            ]
        anns.append({"id": k + 1, "image_id": int(image_of[k]), "category_id": int(cats[k]),
                     "bbox": [x, y, w, h], "area": float(w * h), "iscrowd": int(crowd[k]),
                     "segmentation": seg})  # fmt: skip
    doc = {
        "images": [{"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480}
                   for i in range(1, N_IMAGES + 1)],
        "annotations": anns,
        "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 81)],
    }  # fmt: skip
    path.write_text(json.dumps(doc))


def make_yolo(root: Path) -> Path:
    rng = np.random.default_rng(1)
    images, labels = root / "images" / "train", root / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(N_YOLO):
        source = root / f"one-{i // 50_000}.png"  # a file takes at most 65,000 links (ext4)
        if i % 50_000 == 0:
            Image.new("RGB", (64, 48), "gray").save(source)
        os.link(source, images / f"{i:07d}.png")
        n = int(rng.integers(1, 14))
        v = rng.uniform(0.05, 0.5, (n, 4))
        classes = rng.integers(0, 80, n)
        lines = "".join(
            f"{c} {a:.6f} {b:.6f} {d:.6f} {e:.6f}\n"
            for c, (a, b, d, e) in zip(classes, v, strict=True)
        )
        (labels / f"{i:07d}.txt").write_text(lines)
    names = "".join(f"  {c}: class{c}\n" for c in range(80))
    (root / "data.yaml").write_text(f"path: .\ntrain: images/train\nnames:\n{names}")
    return root / "data.yaml"


def timed(label: str, fn: object) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()  # type: ignore[operator]
    dt = time.perf_counter() - t0
    print(f"  {label}: {dt:.2f} s", flush=True)
    return dt, out


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-formats-"))
    os.environ["TERCET_ROOT"] = str(work / "root")
    os.environ["TERCET_CONFIG"] = str(work / "config.yaml")
    targets = Targets(f"formats targets (scale {SCALE:g}, load average {os.getloadavg()[0]:.1f})")
    try:
        if "coco" in PARTS:
            bench_coco(work, targets)
        if "yolo" in PARTS:
            bench_yolo(work, targets)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return targets.report()


def bench_coco(work: Path, targets: Targets) -> None:
    from pycocotools.coco import COCO  # type: ignore[import-untyped]

    import tercet

    print(f"COCO: {N_IMAGES:,} images, {N_OBJECTS:,} objects (synthetic)", flush=True)
    ann = work / "instances.json"
    timed("write the file", lambda: make_coco(ann))
    print(f"  file size: {ann.stat().st_size / 1e6:.0f} MB")
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        COCO(str(ann))
        t_ref = time.perf_counter() - t0
    print(f"  pycocotools.COCO(): {t_ref:.2f} s")
    images = str(work / "images")
    t_imp, table = timed("Table.from_coco", lambda: tercet.Table.from_coco(
        str(ann), images, project="bench", dataset="coco", name="train"))  # fmt: skip
    targets.ratio("COCO import (Table.from_coco)", t_imp, t_ref, at_most=2.0,
                  baseline_is="pycocotools.COCO() on the file")  # fmt: skip
    out = work / "export" / "instances.json"
    t_exp, _ = timed("export to COCO", lambda: table.export(str(out)))  # type: ignore[attr-defined]
    with contextlib.redirect_stdout(io.StringIO()):
        back = COCO(str(out))
    assert len(back.getAnnIds()) == N_OBJECTS and len(back.getImgIds()) == N_IMAGES
    print(f"  export: {t_exp:.2f} s, {N_IMAGES / t_exp:,.0f} images/s; loads in pycocotools")
    targets.info("COCO export (loads in pycocotools)", t_exp, baseline=t_ref,
                 baseline_is="pycocotools.COCO() on the file")  # fmt: skip


def read_floor(images: Path) -> float:
    """Seconds a plain loop takes to list the images and read each label file and each image's
    first 4 KiB (what any importer must do at least once), in one process."""
    t0 = time.perf_counter()
    labels = images.parent.parent / "labels" / images.name
    for entry in sorted(os.scandir(images), key=lambda e: e.name):
        with open(labels / (entry.name.rsplit(".", 1)[0] + ".txt"), "rb") as f:
            f.read()
        with open(entry.path, "rb") as f:
            f.read(4096)
    return time.perf_counter() - t0


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its finished children (the import's worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def bench_yolo(work: Path, targets: Targets) -> None:
    import tercet

    print(f"YOLO: {N_YOLO:,} label files", flush=True)
    data_yaml = make_yolo(work / "yolo")
    own0, kids0 = cpu_seconds()
    t_yolo, yt = timed("Table.from_yolo", lambda: tercet.Table.from_yolo(
        str(data_yaml), project="bench", dataset="yolo"))  # fmt: skip
    own1, kids1 = cpu_seconds()
    t_floor = read_floor(work / "yolo" / "images" / "train")
    own2, _ = cpu_seconds()
    cpu_yolo, cpu_floor = (own1 - own0) + (kids1 - kids0), own2 - own1
    print(f"  plain read loop: {t_floor:.2f} s", flush=True)
    assert len(yt) == N_YOLO  # type: ignore[arg-type]
    floor = "list + read every file, 1 process"
    targets.at_least("YOLO import (Table.from_yolo)", N_YOLO / t_yolo, 20_000,
                     unit="images/s", baseline=N_YOLO / t_floor, baseline_is=floor)  # fmt: skip
    # CPU time barely depends on what else the machine runs; wall time does (a shared machine
    # gives each process a slice of a core). CPU time of all processes, per 1,000 images.
    targets.info("YOLO import CPU time per 1,000 images", 1000 * cpu_yolo / N_YOLO,
                 baseline=1000 * cpu_floor / N_YOLO, baseline_is=floor)  # fmt: skip
    # What an idle machine would give: the workers' CPU time spread over the cores, the main
    # process's not (an estimate from CPU times, printed as one, not a measurement).
    cores = len(os.sched_getaffinity(0))
    idle = (own1 - own0) + (kids1 - kids0) / cores
    targets.info(f"YOLO import on an idle {cores}-core machine (estimate)", N_YOLO / idle,
                 unit="images/s", baseline=N_YOLO / cpu_floor, baseline_is=floor)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
