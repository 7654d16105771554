# Over 400 lines: one script a person runs, its data builders and in-page probes beside it.
"""Dashboard benchmark: navigation → first drawn frame in headless Chromium, and bytes moved.

Scenarios (each on a cold browser context, median of ``--repeat`` runs):

- ``run-100k``: a run view over 100,000 rows (metrics joined with the input table, a 3-D
  projection), until both the grid shows rows and the 2D scatter has drawn (target < 1.5 s).
- ``scatter-1m``: a table view over 1,000,000 rows with its 2D scatter of x/y, until the scatter
  has drawn (target < 1 s), beside the same view with the 2D points drawn by WebGL instead of the
  CPU (the baseline, interleaved in the same run), and where the time goes: the first load's
  marks (bundle, startup requests, the rows answer, Arrow decoding, typed arrays, colour codes,
  the frame, the GPU fence), median per phase for both paths.
- ``gallery-1m``: a run view over 1,000,000 image rows in gallery mode (sorted by loss): until the
  first tiles' images have decoded, then 120 frames of scrolling (a jump every frame), whose p95
  frame time is the figure (target < 50 ms). The rows point at 64 small PNG files, so the browser
  decodes each once: this measures the gallery, not image decoding.
- ``hover-image``: in the same view's 2D scatter, pointer over a point → the hover card's image
  decoded (median of warm hovers over different points; target < 150 ms).
- ``density-10m``: a table view over ``--rows`` (default 10,000,000) 2-D points, past the service's
  ``density_points``: until the density layer has drawn its first frame (target < 2 s), then 240
  frames of zooming in and out with the wheel at moving positions (zooming in far enough fetches
  the rows in view as points), whose p95 frame time is the figure (target < 50 ms).

``--only run-100k,scatter-1m,gallery,density`` runs some scenarios (their data only).

The page marks ``tercet:grid:first-rows`` and ``tercet:scatter2d:first-frame`` (after the GPU has
finished the frame); times are those marks' ``startTime`` (ms since navigation start). Bytes are
the service's answers counted by the page plus the dashboard's assets.

Run: ``python bench/bench_dashboard.py [--repeat 3] [--keep DIR]``. Needs ``/usr/bin/chromium`` and
the built dashboard (``npm run build`` in ``dashboard/``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from targets import Targets

PROJECT = "bench"
BENCH_TOKEN = "bench-token-0123456789abcdef"
TARGETS = {"run-100k": 1500.0, "scatter-1m": 1000.0, "density-10m": 2000.0}
DENSITY_FRAME_P95 = 50.0
GALLERY_TARGETS = {"scroll p95": 50.0, "hover-image": 150.0}
CLASSES = [f"class {i}" for i in range(10)]


def make_tables(root: Path) -> tuple[str, str, Any]:
    """A 100k-row table (with a run over it) and a 1M-row table of 2-D points."""
    from tercet import Table

    rng = np.random.default_rng(0)
    n = 100_000
    labels = rng.integers(0, 10, n).astype(np.int32)
    small = Table.create(
        {
            "label": labels,
            "feature": rng.normal(size=n).astype(np.float32),
            "note": [f"sample {i}" for i in range(n)],
        },
        project=PROJECT,
        dataset="synthetic",
        name="train",
        root=str(root),
        value_maps={"label": CLASSES},
    )
    m = 1_000_000
    centres = rng.normal(scale=6, size=(20, 2))
    which = rng.integers(0, 20, m)
    xy = centres[which] + rng.normal(size=(m, 2))
    big = Table.create(
        {
            "x": xy[:, 0].astype(np.float32),
            "y": xy[:, 1].astype(np.float32),
            "label": (which % 10).astype(np.int32),
        },
        project=PROJECT,
        dataset="synthetic",
        name="points",
        root=str(root),
        value_maps={"label": CLASSES},
    )
    return small.url, big.url, small


def make_gallery_table(root: Path) -> Any:
    """1,000,000 rows whose images are 64 small PNG files inside the project (so allowed)."""
    from PIL import Image

    from tercet import Table

    data = root / PROJECT / "data"
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for k in range(64):
        pixels = (rng.random((32, 32)) * 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(data / f"{k}.png")
    m = 1_000_000
    return Table.create(
        {
            "image": [str(data / f"{k % 64}.png") for k in range(m)],
            "label": rng.integers(0, 10, m).astype(np.int32),
        },
        project=PROJECT,
        dataset="synthetic",
        name="images",
        root=str(root),
        roles={"image": "image"},
        value_maps={"label": CLASSES},
    )


def write_run(root: Path, table: Any, run_name: str = "bench-run") -> str:
    """A completed run over ``table``: one epoch of metrics and a 3-D projection.

    Written file by file as docs/format.md describes, so the benchmark needs no training loop.
    """
    from datetime import UTC, datetime

    from tercet import format, storage

    run_url = storage.join(str(root), PROJECT, "runs", run_name)
    now = datetime.now(UTC)
    storage.write_json(
        storage.join(run_url, "object.json"),
        {"format": "tercet.run", "format_version": 1, "name": run_name, "project": PROJECT,
         "created": now.isoformat(), "parameters": {"lr": 0.01}},
    )  # fmt: skip
    events = [
        {"type": "status", "status": "running"},
        {"type": "input", "table": storage.relative_to(table.url, run_url), "split": "train"},
        {"type": "status", "status": "completed"},
    ]
    for event in events:
        stamp = format.unique_suffix(datetime.now(UTC))
        storage.write_json(
            storage.join(run_url, "events", f"{stamp}.json"), {"time": now.isoformat(), **event}
        )
        time.sleep(0.002)
    ids = table.to_arrow(columns=["example_id", "label"])
    n = ids.num_rows
    rng = np.random.default_rng(1)
    label = ids["label"].to_numpy()
    prediction = np.where(rng.random(n) < 0.9, label, rng.integers(0, 10, n)).astype(np.int32)
    metrics = pa.table(
        {
            "example_id": ids["example_id"],
            "loss": rng.gamma(1.0, 0.5, n).astype(np.float32),
            "prediction": prediction,
            "confidence": rng.random(n).astype(np.float32),
        }
    )
    roles = {
        "example_id": "id",
        "loss": "loss",
        "prediction": "prediction",
        "confidence": "confidence",
    }
    columns = [{"name": f.name, "type": str(f.type), "role": roles[f.name]} for f in metrics.schema]
    header = {
        "table": storage.relative_to(table.url, run_url),
        "table_id": table.id,
        "epoch": 0,
        "split": "train",
        "columns": columns,
    }
    name = f"epoch-0000-{format.unique_suffix(datetime.now(UTC))}.parquet"
    path = Path(run_url) / "metrics" / "train" / name
    path.parent.mkdir(parents=True)
    pq.write_table(metrics.replace_schema_metadata({"tercet": json.dumps(header)}), path)
    centres = rng.normal(scale=5, size=(10, 3))
    xyz = centres[label] + rng.normal(size=(n, 3))
    proj = pa.table(
        {
            "example_id": ids["example_id"],
            "proj_x": xyz[:, 0].astype(np.float32),
            "proj_y": xyz[:, 1].astype(np.float32),
            "proj_z": xyz[:, 2].astype(np.float32),
        }
    )
    ppath = Path(run_url) / "metrics" / "train" / "projections" / "pca-3d" / name
    ppath.parent.mkdir(parents=True)
    pq.write_table(proj, ppath)
    return run_url


# The first load's moments (dashboard/src/lib/marks.ts), in order: the breakdown's phases.
PHASES = [
    ("bundle run, app mounted", "tercet:start"),
    ("health, schema → points asked", "tercet:points:asked"),
    ("/api/rows answer in", "rows:received"),
    ("Arrow decoded, typed arrays", "tercet:points:decoded"),
    ("id index", "tercet:points:ready"),
    ("colour codes", "tercet:scatter:encoded"),
    ("GPU buffers handed over", "tercet:scatter:uploaded"),
    ("frame drawn (CPU or WebGL)", "tercet:scatter:draw-issued"),
    ("GPU done (fence)", "tercet:scatter2d:first-frame"),
]


def measure(
    browser: Any, url: str, marks: list[str], init_script: str | None = None
) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark")
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    try:
        page.goto(url)
        # a function, not an expression: the page's CSP forbids eval of strings
        page.wait_for_function(
            "(marks) => marks.every((m) => performance.getEntriesByName(m).length)",
            arg=marks,
            timeout=60_000,
        )
        result: dict[str, float] = page.evaluate(
            """(marks) => {
                const out = {};
                for (const m of marks) out[m] = performance.getEntriesByName(m)[0].startTime;
                out.service_bytes = window.__tercetStats ? window.__tercetStats.bytes : 0;
                out.requests = window.__tercetStats ? window.__tercetStats.requests : 0;
                for (const m of performance.getEntriesByType('mark')) {
                    if (m.name.startsWith('tercet:') && !(m.name in out)) out[m.name] = m.startTime;
                }
                // the points' answer: marked when a worker read it, else the page's biggest
                // rows answer (the grid asks a small page beside it)
                const rows = performance.getEntriesByType('resource')
                    .filter((r) => r.name.endsWith('/api/rows'))
                    .sort((a, b) => (b.responseEnd - b.startTime) - (a.responseEnd - a.startTime));
                const received = performance.getEntriesByName('tercet:points:received')[0];
                if (received) out['rows:received'] = received.startTime;
                else if (rows.length) out['rows:received'] = rows[0].responseEnd;
                out.asset_bytes = performance.getEntriesByType('resource')
                    .filter((r) => r.name.startsWith(location.origin))
                    .reduce((s, r) => s + (r.encodedBodySize || r.transferSize || 0), 0)
                    + (performance.getEntriesByType('navigation')[0]?.encodedBodySize || 0);
                return out;
            }""",
            marks,
        )
        return result
    finally:
        context.close()


# Scrolls the gallery by a screen every frame for 120 frames; returns the frame times (ms).
SCROLL = """async () => {
  const g = document.querySelector('[data-testid="gallery"]');
  const times = [];
  let last = performance.now();
  for (let i = 0; i < 120; i++) {
    g.scrollTop += g.clientHeight * (i % 10 === 9 ? 40 : 1);
    await new Promise((r) => requestAnimationFrame(r));
    const now = performance.now();
    times.push(now - last);
    last = now;
  }
  return times;
}"""

# Moves the pointer onto the point of example id `id`; ms until the hover card's image decoded.
HOVER = """async (id) => {
  const overlay = document.querySelector('[data-testid="scatter-2d-overlay"]');
  const at = overlay.tercetProbe.screenOf(id);
  if (!at) return null;
  overlay.dispatchEvent(new PointerEvent('pointerleave', {}));
  const t0 = performance.now();
  const move = { clientX: at.x, clientY: at.y, bubbles: true };
  overlay.dispatchEvent(new PointerEvent('pointermove', move));
  for (;;) {
    await new Promise((r) => requestAnimationFrame(r));
    const card = document.querySelector('[data-testid="hover-card"]');
    const img = card && card.querySelector('img');
    const done = card && img && img.complete && img.naturalWidth > 0;
    if (done) return [Number(card.dataset.exampleId), performance.now() - t0];
    if (performance.now() - t0 > 10000) return null;
  }
}"""


def measure_gallery(browser: Any, url: str) -> dict[str, Any]:
    """First tiles, scrolling frame times, and hover-to-image latency in one 1M-row run view."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"gallery-tile\"] img')]"
            ".slice(0, 8).filter((i) => i.complete && i.naturalWidth > 0).length === 8",
            timeout=120_000,
        )
        first_tiles = page.evaluate("() => performance.now()")
        frames = page.evaluate(SCROLL)
        page.locator('[data-testid="chart-tab-scatter2d"]').click()
        page.locator('[data-testid="scatter-2d-canvas"][data-drawn="true"]').wait_for(
            timeout=120_000
        )
        hovers = []
        for point in range(0, 400_000, 20_000):  # a different sample (and image) every time
            hit = page.evaluate(HOVER, point)
            if hit:
                hovers.append(hit[1])
        return {"first_tiles": first_tiles, "frames": frames, "hovers": hovers}
    finally:
        context.close()


def make_density_table(root: Path, rows: int) -> str:
    """``rows`` 2-D points in 20 clusters (float32 x, y and an int32 label)."""
    from tercet import Table

    rng = np.random.default_rng(3)
    centres = rng.normal(scale=6, size=(20, 2))
    which = rng.integers(0, 20, rows)
    xy = (centres[which] + rng.normal(size=(rows, 2))).astype(np.float32)
    table = Table.create(
        {"x": xy[:, 0], "y": xy[:, 1], "label": (which % 10).astype(np.int32)},
        project=PROJECT,
        dataset="synthetic",
        name=f"points-{rows}",
        root=str(root),
        value_maps={"label": CLASSES},
    )
    return table.url


# Zooms with the wheel for 240 frames (20 frames in, 20 still, 20 out, 20 still; the pointer
# moving), so finer grids and points land in the still frames; returns every frame's time (ms).
ZOOM = """async () => {
  const o = document.querySelector('[data-testid="scatter-2d-overlay"]');
  const b = o.getBoundingClientRect();
  const times = [];
  let last = performance.now();
  for (let i = 0; i < 240; i++) {
    const phase = Math.floor(i / 20) % 4;
    const x = b.left + b.width * (0.3 + 0.4 * ((i * 7) % 40) / 40);
    const y = b.top + b.height * (0.3 + 0.4 * ((i * 11) % 40) / 40);
    if (phase % 2 === 0) {
      o.dispatchEvent(new WheelEvent('wheel', { deltaY: phase ? 90 : -90, clientX: x, clientY: y,
                                                bubbles: true, cancelable: true }));
    }
    await new Promise((r) => requestAnimationFrame(r));
    const now = performance.now();
    times.push(now - last);
    last = now;
  }
  const d = document.querySelector('[data-testid="scatter-density"]').tercetDensity();
  return { times, fetches: d.fetches, total: d.total };
}"""


def measure_density(browser: Any, url: str) -> dict[str, Any]:
    """First density frame, then zoom frame times, in one table view."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_function(
            "() => performance.getEntriesByName('tercet:scatter2d:first-frame').length",
            timeout=120_000,
        )
        first = page.evaluate(
            "() => performance.getEntriesByName('tercet:scatter2d:first-frame')[0].startTime"
        )
        out: dict[str, Any] = page.evaluate(ZOOM)
        out["first"] = first
        return out
    finally:
        context.close()


# Turns the CPU-drawn frames (dashboard/src/render/splat.ts) off: 2D points drawn by WebGL as on
# a machine with a GPU, which is the baseline of scatter-1m here (no GPU: SwiftShader).
WEBGL_POINTS = "window.tercetSplatFrom = Infinity;"


def print_breakdown(paths: dict[str, list[dict[str, float]]]) -> None:
    """Where scatter-1m's first frame goes: each phase's median duration, per drawing path."""
    print()
    print(f"{'scatter-1m breakdown (ms, median)':<34}" + "".join(f"{k:>14}" for k in paths))
    last = dict.fromkeys(paths, 0.0)
    for label, mark in PHASES:
        cells = []
        for path, runs in paths.items():
            at = statistics.median(r.get(mark, float("nan")) for r in runs)
            cells.append(f"{at - last[path]:>8.0f} @{at:>5.0f}")
            last[path] = at
        print(f"{label:<34}" + "".join(f"{c:>14}" for c in cells))
    print("each phase: its duration, @ when it ended (ms from navigation start)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="build the data in this folder and keep it")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of density-10m")
    parser.add_argument(
        "--only", default="run-100k,scatter-1m,gallery,density", help="scenarios to run"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))

    from playwright.sync_api import sync_playwright

    from tercet import config
    from tercet.service import create_app
    from tercet.service.dashboard import create_dashboard_app
    from tercet.service.server import ThreadedServer

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tercet-bench-"))
    root = workdir / "root"
    os.environ["TERCET_ROOT"] = str(root)
    os.environ.setdefault("TERCET_CONFIG", str(workdir / "config.yaml"))
    base = root / PROJECT / "datasets" / "synthetic" / "tables"
    big_url = str(base / "points")
    run_url = str(root / PROJECT / "runs" / "bench-run")
    density_url = str(base / f"points-{args.rows}")
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if only & {"run-100k", "scatter-1m", "gallery"} and not (base / "points").exists():
        _, big_url, small = make_tables(root)
        run_url = write_run(root, small)
        write_run(root, make_gallery_table(root), "bench-gallery")
    if "density" in only and not Path(density_url).exists():
        density_url = make_density_table(root, args.rows)
    print(f"data ready in {time.perf_counter() - t0:.1f} s under {root}")

    # the service starts after this server, on a free loopback port: its page may talk to any
    dashboard = ThreadedServer(create_dashboard_app(services=["http://127.0.0.1:*"])).start()
    cfg = config.load()
    cfg.service.cors_origins = [dashboard.url]
    service = ThreadedServer(create_app(cfg, token=BENCH_TOKEN, scan_interval=5.0)).start()
    conn = f"service={quote(service.url, safe='')}&token={BENCH_TOKEN}"

    def view_url(**kw: str) -> str:
        return f"{dashboard.url}/#{conn}&" + "&".join(
            f"{k}={quote(v, safe='')}" for k, v in kw.items()
        )

    scenarios = {
        "run-100k": (
            view_url(
                project=PROJECT,
                run=run_url,
                split="train",
                epoch="0",
                join="collected",
                chart="scatter2d",
            ),
            ["tercet:grid:first-rows", "tercet:scatter2d:first-frame"],
        ),
        "scatter-1m": (
            view_url(project=PROJECT, table=big_url, chart="scatter2d"),
            ["tercet:scatter2d:first-frame"],
        ),
    }
    scenarios = {k: v for k, v in scenarios.items() if k in only}
    from tercet.testing import chromium as system_chromium

    gallery_url = view_url(
        project=PROJECT,
        run=str(root / PROJECT / "runs" / "bench-gallery"),
        split="train",
        epoch="0",
        join="collected",
        chart="image",
        mode="gallery",
    )
    rows = []
    webgl: list[dict[str, float]] = []
    breakdown: dict[str, list[dict[str, float]]] = {}
    gallery: dict[str, Any] = {}
    density: list[dict[str, Any]] = []
    density_cold: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = system_chromium.launch(p)
            for name, (url, marks) in scenarios.items():
                cold = measure(browser, url, marks)  # the service's caches are cold here
                runs = []
                for _ in range(args.repeat):
                    runs.append(measure(browser, url, marks))
                    if name == "scatter-1m":  # the baseline, interleaved: same load, same run
                        webgl.append(measure(browser, url, marks, WEBGL_POINTS))
                if name == "scatter-1m":
                    breakdown = {"now": runs, "WebGL points": webgl}
                frame = statistics.median(max(r[m] for m in marks) for r in runs)
                grid = statistics.median(
                    r.get("tercet:grid:first-rows", float("nan")) for r in runs
                )
                first = max(cold[m] for m in marks)
                last = runs[-1]
                rows.append(
                    (
                        name,
                        frame,
                        first,
                        grid,
                        last["service_bytes"],
                        last["asset_bytes"],
                        last["requests"],
                    )
                )
            if "gallery" in only:
                gallery = measure_gallery(browser, gallery_url)
            if "density" in only:
                durl = view_url(project=PROJECT, table=density_url, chart="scatter2d")
                density_cold = measure_density(browser, durl)  # the service's caches are cold
                density = [measure_density(browser, durl) for _ in range(args.repeat)]
            browser.close()
    finally:
        service.stop()
        dashboard.stop()

    print()
    print(
        f"{'scenario':<12} {'first frame':>12} {'target':>11} {'cold':>9} {'grid rows':>10} "
        f"{'service':>10} {'assets':>9} {'requests':>9}"
    )
    for name, frame, first, grid, sbytes, abytes, reqs in rows:
        ok = "ok" if frame < TARGETS[name] else "SLOW"
        grid_s = "-" if grid != grid else f"{grid:.0f} ms"
        print(
            f"{name:<12} {frame:>9.0f} ms {TARGETS[name]:>5.0f} ms {ok:<4} {first:>6.0f} ms "
            f"{grid_s:>10} {sbytes / 1e6:>7.2f} MB {abytes / 1e3:>6.0f} KB {reqs:>9.0f}"
        )
    print("first frame: median of warm runs (ms from navigation start); cold: the first run")
    if breakdown:
        print_breakdown(breakdown)
    targets = Targets("dashboard targets")
    for name, frame, *_ in rows:
        if name == "scatter-1m" and webgl:
            gl_frame = statistics.median(r["tercet:scatter2d:first-frame"] for r in webgl)
            targets.at_most(f"{name}: first frame", frame, TARGETS[name], unit="ms",
                            baseline=gl_frame, baseline_is="WebGL points, same run")  # fmt: skip
        else:
            targets.at_most(f"{name}: first frame", frame, TARGETS[name], unit="ms")
    if gallery:
        frames = sorted(gallery["frames"])
        p95 = frames[int(len(frames) * 0.95) - 1]
        warm = gallery["hovers"][1:]
        hover = statistics.median(warm) if warm else float("nan")
        print()
        print(f"gallery-1m   first tiles {gallery['first_tiles']:.0f} ms from navigation start")
        ok = "ok" if p95 < GALLERY_TARGETS["scroll p95"] else "SLOW"
        median = statistics.median(frames)
        print(f"gallery-1m   scroll frame p95 {p95:.1f} ms (median {median:.1f}) "
              f"target {GALLERY_TARGETS['scroll p95']:.0f} ms {ok}")  # fmt: skip
        ok = "ok" if hover < GALLERY_TARGETS["hover-image"] else "SLOW"
        print(f"hover-image  median {hover:.0f} ms over {len(warm)} warm hovers "
              f"(cold {gallery['hovers'][0] if gallery['hovers'] else float('nan'):.0f} ms) "
              f"target {GALLERY_TARGETS['hover-image']:.0f} ms {ok}")  # fmt: skip
        limits = GALLERY_TARGETS
        targets.at_most("gallery-1m: scroll frame p95", p95, limits["scroll p95"], unit="ms")
        targets.at_most("hover-image: warm median", hover, limits["hover-image"], unit="ms")
    if density:
        first = statistics.median(d["first"] for d in density)
        frames = sorted(t for d in density for t in d["times"])
        p95 = frames[int(len(frames) * 0.95) - 1]
        print()
        cold = density_cold["first"]
        median = statistics.median(frames)
        answers = density[-1]["fetches"]
        print(
            f"density-10m  {args.rows:,} rows: first frame {first:.0f} ms (cold {cold:.0f} ms),"
            f" zoom frame p95 {p95:.1f} ms (median {median:.1f}), {answers} answers"
        )
        limit = TARGETS["density-10m"]
        targets.at_most(f"density {args.rows:,} rows: first frame", first, limit, unit="ms")
        targets.at_most("density: zoom frame p95", p95, DENSITY_FRAME_P95, unit="ms")
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
