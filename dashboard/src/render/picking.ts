// Hit tests on the CPU: each point projected with the camera's matrix (~10 ms per million), so
// picking and lassoing need no GPU read-back and no spatial index to build first.
import { project, type Mat4 } from './mat4';

export interface Projected {
  x: Float32Array;
  y: Float32Array;
  z?: Float32Array;
  /** Matrix of the frame on screen, and the canvas's CSS size. */
  matrix: Mat4;
  w: number;
  h: number;
}

/** Index of the point nearest to (x, y) in CSS px, within `radius`; points the mask dims lose ties. */
export function pick(p: Projected, x: number, y: number, radius: number, mask: Uint8Array | null): number | null {
  const n = p.x.length;
  let best = -1;
  let bestD = radius * radius;
  const { matrix: m, w, h, z } = p;
  for (let i = 0; i < n; i++) {
    const [cx, cy, cw] = project(m, p.x[i], p.y[i], z ? z[i] : 0);
    if (cw <= 0) continue;
    const sx = ((cx / cw + 1) / 2) * w - x;
    const sy = ((1 - cy / cw) / 2) * h - y;
    let dd = sx * sx + sy * sy;
    if (mask && mask[i] === 0) dd += radius; // prefer points that pass the filters
    if (dd < bestD) {
      bestD = dd;
      best = i;
    }
  }
  return best >= 0 ? best : null;
}

/** Screen (CSS px) positions of every point; NaN for points behind the camera. */
function screenPositions(p: Projected): Float32Array {
  const n = p.x.length;
  const { matrix: m, w, h, z } = p;
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const [cx, cy, cw] = project(m, p.x[i], p.y[i], z ? z[i] : 0);
    if (cw <= 0) {
      out[i * 2] = NaN;
      out[i * 2 + 1] = NaN;
      continue;
    }
    out[i * 2] = ((cx / cw + 1) / 2) * w;
    out[i * 2 + 1] = ((1 - cy / cw) / 2) * h;
  }
  return out;
}

/** Indices of points inside a polygon given in CSS px. */
export function pointsInPolygon(p: Projected, poly: [number, number][]): Uint32Array {
  if (poly.length < 3) return new Uint32Array(0);
  const n = p.x.length;
  const pos = screenPositions(p);
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [px, py] of poly) {
    x0 = Math.min(x0, px); y0 = Math.min(y0, py); x1 = Math.max(x1, px); y1 = Math.max(y1, py);
  }
  const hits: number[] = [];
  for (let i = 0; i < n; i++) {
    const px = pos[i * 2];
    const py = pos[i * 2 + 1];
    if (!(px >= x0 && px <= x1 && py >= y0 && py <= y1)) continue;
    let inside = false;
    for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
      const [ax, ay] = poly[a];
      const [bx, by] = poly[b];
      if (ay > py !== by > py && px < ((bx - ax) * (py - ay)) / (by - ay) + ax) inside = !inside;
    }
    if (inside) hits.push(i);
  }
  return Uint32Array.from(hits);
}
