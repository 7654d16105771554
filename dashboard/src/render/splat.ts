// 2D points written straight into an RGBA image by the CPU, for browsers whose WebGL itself runs
// on the CPU (SwiftShader, llvmpipe: no GPU). There each point costs a primitive set-up, and 1M
// points take ~1-2 s per frame; projecting them and writing their few pixels in JS ~50-100 ms,
// and the image is then drawn as one textured triangle. The rules are the point shaders' in
// shaders.ts, so both paths draw the same picture: a disc of the point's size (at least 1 px),
// the palette colour at `alpha`, points failing the filters in `dim` at 0.75× size, selection
// rings on top, blended premultiplied (ONE, ONE_MINUS_SRC_ALPHA) in draw order.
import type { Mat4 } from './mat4';
import { IMAGE_FS, IMAGE_VS, link } from './shaders';

export interface SplatPoints {
  x: Float32Array;
  y: Float32Array;
  /** Palette index per point. */
  color: Uint8Array;
  /** 0..255 relative size per point; constant when absent. */
  size?: Uint8Array;
  /** 1 = passes the filters; null: every point passes. */
  mask: Uint8Array | null;
  /** Indices drawn again with a ring, over everything else. */
  selection: Uint32Array;
}

export interface SplatStyle {
  matrix: Mat4;
  /** Diameter in device pixels (the shader's uPointSize). */
  pointSize: number;
  alpha: number;
  dim: [number, number, number, number];
  ringColor: [number, number, number, number];
  /** Ring width added to the diameter of selected points, in device pixels. */
  ring: number;
  /** 256 RGBA bytes, the palette texture. */
  palette: Uint8Array;
}

/** Premultiplied RGBA bytes: what the fragment shader writes for colour `rgb` at opacity `a`. */
function premultiplied(r: number, g: number, b: number, a: number): [number, number, number, number] {
  return [Math.round(r * a * 255), Math.round(g * a * 255), Math.round(b * a * 255), Math.round(a * 255)];
}

/**
 * Draws the points into `image` (W × H packed RGBA pixels, rows bottom-up like a GL framebuffer), which must
 * already hold the background (cleared: all zero).
 */
export function splat(image: Uint32Array, W: number, H: number, p: SplatPoints, s: SplatStyle): void {
  // Pixels and colours as int32: packed colours past 2^31 in a Uint32Array are doubles to the
  // JIT, and a million points blend ~2-3 pixels each (~1.6 px points at 1M): int32 all the way
  // is ~2× faster.
  const px = new Int32Array(image.buffer, image.byteOffset, image.length);
  const on = new Int32Array(256); // packed premultiplied colour of each palette code at `alpha`
  const full = new Int32Array(256); // … at opacity 1 (the selection pass)
  for (let c = 0; c < 256; c++) {
    const r = s.palette[c * 4] / 255;
    const g = s.palette[c * 4 + 1] / 255;
    const b = s.palette[c * 4 + 2] / 255;
    on[c] = packed(r, g, b, s.alpha);
    full[c] = packed(r, g, b, 1);
  }
  const dim = packed(s.dim[0], s.dim[1], s.dim[2], s.dim[3]);
  const ring = packed(s.ringColor[0], s.ringColor[1], s.ringColor[2], s.ringColor[3]);
  const { x, y, color, size, mask } = p;
  const m = s.matrix;
  const [m0, m1, m3, m4, m5, m7, m12, m13, m15] = [m[0], m[1], m[3], m[4], m[5], m[7], m[12], m[13], m[15]];
  const n = x.length;

  // Each point: the pixels whose centres fall in its disc, blended over what is there. One loop
  // per pass with the point's work inline (a call per point costs as much as the point).
  const pass = (selection: Uint32Array | null, ringWidth: number, table: Int32Array): void => {
    const count = selection ? selection.length : n;
    for (let k = 0; k < count; k++) {
      const i = selection ? selection[k] : k;
      if (i >= n) continue;
      const X = x[i];
      const Y = y[i];
      const cw = m3 * X + m7 * Y + m15;
      const nx = (m0 * X + m4 * Y + m12) / cw;
      const ny = (m1 * X + m5 * Y + m13) / cw;
      if (!(nx >= -1 && nx <= 1 && ny >= -1 && ny <= 1)) continue; // GL clips a point by its centre
      const wx = (nx + 1) * 0.5 * W;
      const wy = (ny + 1) * 0.5 * H;
      const passes = mask === null || mask[i] === 1;
      let d = size ? s.pointSize * (0.5 + 2.7 * (size[i] / 255)) : s.pointSize;
      d = Math.max(1, (passes ? d : Math.max(1, d * 0.75)) + ringWidth);
      const r = d / 2;
      const r2 = r * r;
      const inner2 = 0.36 * r2; // the shader's ring: gl_PointCoord radius past 0.3
      const fill = passes ? table[color[i]] : dim;
      const x0 = Math.max(0, Math.ceil(wx - r - 0.5));
      const x1 = Math.min(W - 1, Math.floor(wx + r - 0.5));
      const y0 = Math.max(0, Math.ceil(wy - r - 0.5));
      const y1 = Math.min(H - 1, Math.floor(wy + r - 0.5));
      for (let py = y0; py <= y1; py++) {
        const dy = py + 0.5 - wy;
        const row = py * W;
        for (let qx = x0; qx <= x1; qx++) {
          const dx = qx + 0.5 - wx;
          const d2 = dx * dx + dy * dy;
          if (d2 <= r2) {
            const o = row + qx;
            const src = ringWidth > 0 && d2 > inner2 ? ring : fill;
            const dst = px[o];
            const k255 = 255 - (src >>> 24);
            if (k255 === 0 || dst === 0) {
              px[o] = src; // opaque over anything, or anything over nothing
              continue;
            }
            // src over dst, premultiplied: src + dst·(1 − src alpha), x·k/255 rounded in integers
            let t = (dst & 255) * k255 + 128;
            const R = (src & 255) + ((t + (t >> 8)) >> 8);
            t = ((dst >>> 8) & 255) * k255 + 128;
            const G = ((src >>> 8) & 255) + ((t + (t >> 8)) >> 8);
            t = ((dst >>> 16) & 255) * k255 + 128;
            const B = ((src >>> 16) & 255) + ((t + (t >> 8)) >> 8);
            t = (dst >>> 24) * k255 + 128;
            const A = (src >>> 24) + ((t + (t >> 8)) >> 8);
            px[o] = R | (G << 8) | (B << 16) | (A << 24);
          }
        }
      }
    }
  };

  // The usual frame (a 2D camera, one size for all): the disc's radius is one of two, known
  // before the loop, and the blend is inline; ~2× fewer instructions a point than `pass`.
  const plain = (table: Int32Array): void => {
    const dOn = Math.max(1, s.pointSize);
    const dDim = Math.max(1, Math.max(1, s.pointSize * 0.75));
    const rOn = dOn / 2;
    const rDim = dDim / 2;
    const hW = 0.5 * W;
    const hH = 0.5 * H;
    for (let i = 0; i < n; i++) {
      const X = x[i];
      const Y = y[i];
      const nx = (m0 * X + m4 * Y + m12) / m15;
      const ny = (m1 * X + m5 * Y + m13) / m15;
      if (!(nx >= -1 && nx <= 1 && ny >= -1 && ny <= 1)) continue; // GL clips a point by its centre
      const wx = (nx + 1) * hW;
      const wy = (ny + 1) * hH;
      const passes = mask === null || mask[i] === 1;
      const r = passes ? rOn : rDim;
      const r2 = r * r;
      const src = passes ? table[color[i]] : dim;
      const k255 = 255 - (src >>> 24);
      const x0 = Math.max(0, Math.ceil(wx - r - 0.5));
      const x1 = Math.min(W - 1, Math.floor(wx + r - 0.5));
      const y0 = Math.max(0, Math.ceil(wy - r - 0.5));
      const y1 = Math.min(H - 1, Math.floor(wy + r - 0.5));
      for (let py = y0; py <= y1; py++) {
        const dy = py + 0.5 - wy;
        const row = py * W;
        for (let qx = x0; qx <= x1; qx++) {
          const dx = qx + 0.5 - wx;
          if (dx * dx + dy * dy <= r2) {
            const o = row + qx;
            const dst = px[o];
            if (k255 === 0 || dst === 0) {
              px[o] = src;
              continue;
            }
            let t = (dst & 255) * k255 + 128;
            const R = (src & 255) + ((t + (t >> 8)) >> 8);
            t = ((dst >>> 8) & 255) * k255 + 128;
            const G = ((src >>> 8) & 255) + ((t + (t >> 8)) >> 8);
            t = ((dst >>> 16) & 255) * k255 + 128;
            const B = ((src >>> 16) & 255) + ((t + (t >> 8)) >> 8);
            t = (dst >>> 24) * k255 + 128;
            const A = (src >>> 24) + ((t + (t >> 8)) >> 8);
            px[o] = R | (G << 8) | (B << 16) | (A << 24);
          }
        }
      }
    }
  };

  if (!size && m3 === 0 && m7 === 0) plain(on);
  else pass(null, 0, on);
  if (p.selection.length > 0) pass(p.selection, s.ring, full);
}

/** RGBA bytes packed little-endian, as the int32 a view of RGBA8 pixels holds. */
function packed(r: number, g: number, b: number, a: number): number {
  const [R, G, B, A] = premultiplied(r, g, b, a);
  return R | (G << 8) | (B << 16) | (A << 24);
}

/** Whether this context renders on the CPU (SwiftShader, llvmpipe): no GPU behind it. */
export function softwareGL(gl: WebGL2RenderingContext): boolean {
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const name: unknown = gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
  return /swiftshader|llvmpipe|softpipe|software/i.test(String(name));
}

/** The CPU-drawn image of the points, shown by WebGL as one triangle over a cleared canvas. */
export class CpuImage {
  private program: WebGLProgram;
  private vao: WebGLVertexArrayObject;
  private texture: WebGLTexture;
  private image: Uint32Array | null = null;

  constructor(private readonly gl: WebGL2RenderingContext) {
    this.program = link(gl, IMAGE_VS, IMAGE_FS);
    this.vao = gl.createVertexArray()!;
    this.texture = gl.createTexture()!;
  }

  draw(W: number, H: number, points: SplatPoints, style: SplatStyle): void {
    const gl = this.gl;
    if (!this.image || this.image.length !== W * H) this.image = new Uint32Array(W * H);
    else this.image.fill(0);
    splat(this.image, W, H, points, style);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, W, H, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(this.image.buffer));
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.disable(gl.BLEND); // the image already holds the blended points over a clear canvas
    gl.useProgram(this.program);
    gl.uniform1i(gl.getUniformLocation(this.program, 'uImage'), 0);
    gl.bindVertexArray(this.vao);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    gl.bindVertexArray(null);
    gl.enable(gl.BLEND);
  }
}
