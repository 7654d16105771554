// Where the points are seen from: the data's bounds fitted into a [-1, 1] cube, then zoom and pan
// (2D) or an orbit around the cube (3D).
import { multiply, perspective, rotationX, rotationY, scaling, translation, type Mat4 } from './mat4';

export interface Bounds {
  min: [number, number, number];
  max: [number, number, number];
}

/** Bounds of the coordinates; [-1, 1] for an absent axis, widened when an axis is flat. */
export function bounds(x: Float32Array, y: Float32Array, z: Float32Array | undefined): Bounds {
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  const arrays = [x, y, z];
  for (let k = 0; k < 3; k++) {
    const a = arrays[k];
    if (!a) {
      min[k] = -1;
      max[k] = 1;
      continue;
    }
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v < min[k]) min[k] = v;
      if (v > max[k]) max[k] = v;
    }
    if (!Number.isFinite(min[k])) {
      min[k] = -1;
      max[k] = 1;
    } else if (min[k] === max[k]) {
      min[k] -= 0.5;
      max[k] += 0.5;
    }
  }
  return { min, max };
}

export class Camera {
  bounds: Bounds = { min: [-1, -1, -1], max: [1, 1, 1] };
  zoom = 1;
  panX = 0;
  panY = 0;
  yaw = -0.6;
  pitch = 0.45;
  distance = 3.4;

  constructor(readonly mode: '2d' | '3d') {}

  reset(): void {
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.yaw = -0.6;
    this.pitch = 0.45;
    this.distance = 3.4;
  }

  rotate(dYaw: number, dPitch: number): void {
    this.yaw += dYaw;
    this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + dPitch));
  }

  /** Pans by a drag of (dx, dy) CSS px on a w × h canvas. */
  pan(dx: number, dy: number, w: number, h: number): void {
    this.panX += (dx / w) * 2;
    this.panY -= (dy / h) * 2;
  }

  /** Zooms by `f` about (nx, ny) in normalised device coordinates (2D), or moves closer (3D). */
  zoomBy(f: number, nx: number, ny: number): void {
    if (this.mode === '3d') {
      this.distance = Math.max(1.2, Math.min(20, this.distance / f));
      return;
    }
    this.panX = nx - (nx - this.panX) * f;
    this.panY = ny - (ny - this.panY) * f;
    this.zoom *= f;
  }

  /** Data → normalised [-1, 1] cube. */
  private normaliser(): Mat4 {
    const { min, max } = this.bounds;
    const pad = this.mode === '2d' ? 0.92 : 1;
    const s = [0, 1, 2].map((k) => (2 * pad) / (max[k] - min[k]));
    const c = [0, 1, 2].map((k) => (max[k] + min[k]) / 2);
    return multiply(scaling(s[0], s[1], this.mode === '3d' ? s[2] : 0), translation(-c[0], -c[1], -c[2]));
  }

  private perspective(w: number, h: number): Mat4 {
    return perspective(Math.PI / 4, w / h, 0.1, 100);
  }

  private orbit(): Mat4 {
    return multiply(translation(this.panX, this.panY, -this.distance), multiply(rotationX(this.pitch), rotationY(this.yaw)));
  }

  /** The normalised cube → clip space (3D), for the cube drawn around the points. */
  cubeMatrix(w: number, h: number): Mat4 {
    return multiply(this.perspective(w, h), this.orbit());
  }

  /** Data → clip space for a w × h canvas. */
  matrix(w: number, h: number): Mat4 {
    if (this.mode === '2d') {
      const view = multiply(translation(this.panX, this.panY, 0), scaling(this.zoom, this.zoom, 1));
      return multiply(view, this.normaliser());
    }
    return multiply(this.perspective(w, h), multiply(this.orbit(), this.normaliser()));
  }

  /** Data-space extent currently visible (2D only), for axis ticks. */
  visibleDomain(): { x: [number, number]; y: [number, number] } {
    const { min, max } = this.bounds;
    const inv = (ndc: number, k: 0 | 1, pan: number) => {
      const s = (2 * 0.92) / (max[k] - min[k]);
      const c = (max[k] + min[k]) / 2;
      return (ndc - pan) / this.zoom / s + c;
    };
    return { x: [inv(-1, 0, this.panX), inv(1, 0, this.panX)], y: [inv(-1, 1, this.panY), inv(1, 1, this.panY)] };
  }
}
