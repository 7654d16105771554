"""The dashboard's COCO RLE decoder (dashboard/src/lib/rle.ts) against pycocotools: the same
pixels and area for random masks (empty, full, one pixel, runs of a million pixels and more),
and a clear error for counts that are cut short, use characters outside COCO's alphabet
or do not cover the mask. The TypeScript is transpiled with the dashboard's own compiler and run
in Node."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

mask_utils = pytest.importorskip("pycocotools.mask")

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"
RLE_TS = DASHBOARD / "src" / "lib" / "rle.ts"

RUNNER = r"""
const fs = require('fs');
const ts = require(process.argv[1] + '/node_modules/typescript');
const src = fs.readFileSync(process.argv[2], 'utf8');
const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 };
const js = ts.transpileModule(src, { compilerOptions: options }).outputText;
const mod = { exports: {} };
new Function('module', 'exports', js)(mod, mod.exports);
const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = cases.map(([size, counts]) => {
  try { return mod.exports.rlePath(size, counts); }
  catch (e) { return { error: String(e.message) }; }
});
process.stdout.write(JSON.stringify(out));
"""


def run_decoder(cases: list[tuple[list[int], str]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (DASHBOARD / "node_modules" / "typescript").exists():
        pytest.skip("Node and the dashboard's node_modules are needed")
    done = subprocess.run(
        [node, "-e", RUNNER, str(DASHBOARD), str(RLE_TS)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def pixels(d: str, h: int, w: int) -> np.ndarray:
    """The mask an SVG path of 1-px column pieces (``M x y h1 v n h-1 z``) covers."""
    out = np.zeros((h, w), dtype=np.uint8)
    pieces = re.findall(r"M(\d+) (\d+)h1v(\d+)h-1z", d)
    assert "".join(f"M{x} {y}h1v{n}h-1z" for x, y, n in pieces) == d
    for x, y, n in pieces:
        out[int(y) : int(y) + int(n), int(x)] += 1
    assert out.max(initial=0) <= 1, "pieces overlap"
    return out


def masks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [np.zeros((5, 7), np.uint8), np.ones((6, 4), np.uint8)]
    one = np.zeros((9, 9), np.uint8)
    one[4, 8] = 1
    out.append(one)
    for h, w in ((8, 8), (31, 17), (64, 48)):
        out.append((rng.random((h, w)) < rng.uniform(0.1, 0.9)).astype(np.uint8))
    big = np.zeros((1500, 1400), np.uint8)  # runs of a million pixels and more
    big[3:1490, 2:1300] = 1
    big[700:720, 600:900] = 0
    out.append(big)
    return out


def cases() -> list[tuple[list[int], str]]:
    out = []
    for m in masks():
        rle = mask_utils.encode(np.asfortranarray(m))
        out.append(([int(v) for v in rle["size"]], rle["counts"].decode()))
    good = mask_utils.encode(np.asfortranarray(np.eye(6, dtype=np.uint8)))["counts"].decode()
    # cut inside a number, a character outside the alphabet, counts for another size
    return [*out, ([6, 6], good + "o"), ([6, 6], "1~2"), ([7, 6], good)]


@pytest.fixture(scope="module")
def decoded() -> list[dict[str, Any]]:
    """Every case through one Node process (loading the compiler is most of the time)."""
    return run_decoder(cases())


def test_decoder_gives_the_pixels_and_area_pycocotools_gives(decoded: list[dict[str, Any]]) -> None:
    good = masks()
    assert len(decoded) == len(good) + 3
    for m, (size, counts), got in zip(good, cases()[: len(good)], decoded, strict=False):
        assert "error" not in got, got
        assert got["area"] == int(mask_utils.area({"size": size, "counts": counts.encode()}))
        assert np.array_equal(pixels(got["d"], *size), m)


def test_broken_counts_are_refused_with_what_is_wrong(decoded: list[dict[str, Any]]) -> None:
    cut, bad, short = decoded[-3:]
    assert "end inside a number" in cut["error"]
    assert "not in COCO's alphabet" in bad["error"] and "character 1" in bad["error"]
    assert "cover 36 pixels, not 7 × 6 = 42" in short["error"]
