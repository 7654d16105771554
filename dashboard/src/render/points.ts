// WebGL2 point renderer for the 2D and 3D scatter plots. It is fed typed arrays and rebuilds a
// GPU buffer only when that input changes; it knows nothing about columns, filters or the
// service. Measured here (SwiftShader, no GPU) at 1M points: ~1.0 s to first frame, against
// ~2.6 s for regl-scatterplot, whose draw() converts columns to row arrays and waits for its
// spatial index; lasso and picking project the points on the CPU instead (~10 ms per 1M).
// When WebGL itself runs on the CPU (no GPU: SwiftShader, llvmpipe), 2D frames of many points are
// drawn by splat.ts in JS instead (~50-100 ms against ~1-2 s per frame at 1M points).
// The camera, hit tests, pointer handling, shaders and the 3D box are in files beside this one.
import { Camera, bounds, type Bounds } from './camera';
import { project } from './mat4';
import { pick, pointsInPolygon, type Projected } from './picking';
import { PointerControls, type PointerHost, type RendererEvents } from './pointer';
import { Cube } from './cube';
import { POINT_FS, POINT_VS, link } from './shaders';
import { CpuImage, softwareGL } from './splat';
import { markOnce } from '../lib/marks';

export type { RendererEvents } from './pointer';

export interface PointData {
  x: Float32Array;
  y: Float32Array;
  /** Present for 3D. */
  z?: Float32Array;
  /** Palette index per point. */
  color: Uint8Array;
  /** 0..255 relative size per point; constant when absent. */
  size?: Uint8Array;
  /** What the camera fits instead of the points' own bounds (density mode draws a subset). */
  bounds?: Bounds;
}

/** Points with the example id drawn at each position and the reverse lookup, so whatever is
 * worked out for them (mask, rings, picks) comes from the same answer as the positions. */
export interface IdentifiedPoints extends PointData {
  ids: Float64Array;
  indexOf(id: number): number;
  /** Sets out[i] = 1 at the position of each of `ids` found (out may be null); returns how many. */
  markIds?(ids: Float64Array, out: Uint8Array | null): number;
}

export type RGB = [number, number, number];

export class PointRenderer implements PointerHost {
  readonly mode: '2d' | '3d';
  readonly camera: Camera;
  private gl: WebGL2RenderingContext;
  private program: WebGLProgram;
  private cube: Cube;
  private vao: WebGLVertexArrayObject;
  private buffers = new Map<string, WebGLBuffer>();
  private paletteTex: WebGLTexture;
  private selectionBuffer: WebGLBuffer;
  private selectionCount = 0;
  private data: PointData | null = null;
  private n = 0;
  private mask: Uint8Array | null = null;
  private maskConstant = false;
  private frame = 0;
  private drawnOnce = false;
  private startedAt = performance.now();
  private resizeObserver: ResizeObserver;
  private pointer: PointerControls;
  private size: { w: number; h: number } | null = null;
  private paletteBytes = new Uint8Array(256 * 4);
  private selection: Uint32Array = new Uint32Array(0);
  private cpuImage: CpuImage;
  /** WebGL runs on the CPU here (no GPU): many points are cheaper drawn by splat.ts. */
  readonly software: boolean;
  /** From this many points, 2D frames in software WebGL are drawn by the CPU (tests lower it;
   * `window.tercetSplatFrom` set before the page loads moves it, so the benchmark can measure
   * the WebGL points path beside this one). */
  splatFrom = (window as { tercetSplatFrom?: number }).tercetSplatFrom ?? 100_000;

  lassoMode = false;
  pointSize = 3;
  alpha = 0.85;
  dimColor: [number, number, number, number] = [0.5, 0.5, 0.5, 0.12];
  ringColor: [number, number, number, number] = [1, 1, 1, 1];
  gridColor: [number, number, number, number] = [0.5, 0.5, 0.5, 0.35];

  constructor(
    readonly canvas: HTMLCanvasElement,
    readonly overlay: HTMLCanvasElement,
    mode: '2d' | '3d',
    private events: RendererEvents = {},
  ) {
    this.mode = mode;
    this.camera = new Camera(mode);
    const gl = canvas.getContext('webgl2', { antialias: false, premultipliedAlpha: true, alpha: true });
    if (!gl) throw new Error('WebGL2 is not available in this browser.');
    this.gl = gl;
    this.program = link(gl, POINT_VS, POINT_FS);
    this.cube = new Cube(gl);
    this.vao = gl.createVertexArray()!;
    this.paletteTex = gl.createTexture()!;
    this.selectionBuffer = gl.createBuffer()!;
    this.cpuImage = new CpuImage(gl);
    this.software = softwareGL(gl);
    this.setPalette([[0.3, 0.5, 0.9]]);
    this.resizeObserver = new ResizeObserver((entries) => {
      const r = entries[entries.length - 1]?.contentRect;
      if (r) this.size = { w: Math.max(1, r.width), h: Math.max(1, r.height) };
      this.resize();
    });
    this.resizeObserver.observe(canvas);
    this.pointer = new PointerControls(overlay, this, events);
    this.resize();
  }

  /** Buffers handed to WebGL at its next draw, not before: CPU-drawn frames never need them. */
  private pending = new Map<string, () => void>();

  private upload(name: string, array: ArrayBufferView, size: number, type: number, normalized: boolean): void {
    this.pending.set(name, () => this.uploadNow(name, array, size, type, normalized));
  }

  private uploadNow(name: string, array: ArrayBufferView, size: number, type: number, normalized: boolean): void {
    const gl = this.gl;
    let buf = this.buffers.get(name);
    if (!buf) {
      buf = gl.createBuffer()!;
      this.buffers.set(name, buf);
    }
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, array, gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(this.program, name);
    if (loc >= 0) {
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, size, type, normalized, 0, 0);
    }
    gl.bindVertexArray(null);
  }

  private constant(name: string, value: number): void {
    this.pending.delete(name); // a constant replaces a buffer not handed over yet
    const gl = this.gl;
    const loc = gl.getAttribLocation(this.program, name);
    if (loc < 0) return;
    gl.bindVertexArray(this.vao);
    gl.disableVertexAttribArray(loc);
    gl.vertexAttrib1f(loc, value);
    gl.bindVertexArray(null);
  }

  /** Replaces the points; keeps the camera unless the point count changes. */
  setData(d: PointData, keepView = false): void {
    const gl = this.gl;
    const countChanged = !this.data || this.data.x.length !== d.x.length;
    const prev = this.data;
    this.data = d;
    this.n = d.x.length;
    if (!prev || prev.x !== d.x) this.upload('aX', d.x, 1, gl.FLOAT, false);
    if (!prev || prev.y !== d.y) this.upload('aY', d.y, 1, gl.FLOAT, false);
    if (d.z) {
      if (!prev || prev.z !== d.z) this.upload('aZ', d.z, 1, gl.FLOAT, false);
    } else this.constant('aZ', 0);
    if (!prev || prev.color !== d.color) this.upload('aColor', d.color, 1, gl.UNSIGNED_BYTE, false);
    if (d.size) {
      if (!prev || prev.size !== d.size) this.upload('aSize', d.size, 1, gl.UNSIGNED_BYTE, true);
    } else this.constant('aSize', 0.25);
    if (countChanged) this.setMask(null);
    if (!prev || prev.x !== d.x || prev.y !== d.y || prev.z !== d.z) {
      this.camera.bounds = d.bounds ?? bounds(d.x, d.y, d.z);
      if (!keepView) this.resetView(false);
    }
    this.pointer.hover = null;
    if (this.n > 0) markOnce('tercet:scatter:uploaded');
    this.requestRender();
  }

  setPalette(colors: RGB[]): void {
    const gl = this.gl;
    const px = new Uint8Array(256 * 4);
    for (let i = 0; i < 256; i++) {
      const c = colors[i % Math.max(1, colors.length)] ?? [0.5, 0.5, 0.5];
      px[i * 4] = Math.round(c[0] * 255);
      px[i * 4 + 1] = Math.round(c[1] * 255);
      px[i * 4 + 2] = Math.round(c[2] * 255);
      px[i * 4 + 3] = 255;
    }
    this.paletteBytes = px;
    gl.bindTexture(gl.TEXTURE_2D, this.paletteTex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, px);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    this.requestRender();
  }

  /** 1 = point passes the filters, 0 = drawn dimmed. null: every point passes. */
  setMask(mask: Uint8Array | null): void {
    // a mask made for other points must never dim these: draw them all until the right one comes
    if (mask && mask.length !== this.n) mask = null;
    if (mask === null && this.mask === null && this.maskConstant) return;
    this.maskConstant = mask === null;
    this.mask = mask;
    if (mask) this.upload('aMask', mask, 1, this.gl.UNSIGNED_BYTE, false);
    else this.constant('aMask', 1);
    this.requestRender();
  }

  setSelection(indices: Uint32Array): void {
    if (indices.length === 0 && this.selectionCount === 0) return;
    const gl = this.gl;
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selectionBuffer);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices, gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, null);
    this.selectionCount = indices.length;
    this.selection = indices;
    this.requestRender();
  }

  resetView(render = true): void {
    this.camera.reset();
    if (render) this.requestRender();
    this.events.onViewChange?.();
  }

  /** Rotates the 3D view by the given angles (radians); used by keyboard shortcuts. */
  rotate(dYaw: number, dPitch: number): void {
    this.camera.rotate(dYaw, dPitch);
    this.pointer.clearHover();
    this.requestRender();
  }

  /** CSS size of the canvas, measured by the ResizeObserver (no forced layout per frame). */
  get cssSize(): { w: number; h: number } {
    if (!this.size) {
      const r = this.canvas.getBoundingClientRect();
      this.size = { w: Math.max(1, r.width), h: Math.max(1, r.height) };
    }
    return this.size;
  }

  private projected(): Projected | null {
    const d = this.data;
    if (!d || this.n === 0) return null;
    const { w, h } = this.cssSize;
    return { x: d.x, y: d.y, z: d.z, matrix: this.camera.matrix(w, h), w, h };
  }

  /** Where point `i` is drawn, in CSS px of the canvas; null when it is behind the camera. */
  screenOf(i: number): { x: number; y: number } | null {
    const p = this.projected();
    if (!p || i < 0 || i >= this.n) return null;
    const [cx, cy, cw] = project(p.matrix, p.x[i], p.y[i], p.z ? p.z[i] : 0);
    if (cw <= 0) return null;
    return { x: ((cx / cw + 1) / 2) * p.w, y: ((1 - cy / cw) / 2) * p.h };
  }

  /** Where point `i` is drawn and its diameter in CSS px (the vertex shader's size rule). */
  ringOf(i: number): { x: number; y: number; d: number } | null {
    const at = this.screenOf(i);
    if (!at) return null;
    const s = this.data?.size;
    const on = !this.mask || this.mask[i] === 1;
    const d = this.pointSize * (s ? 0.5 + 2.7 * (s[i] / 255) : 1);
    return { ...at, d: on ? d : Math.max(1, d * 0.75) };
  }

  /** The mask drawn now (1 = passes), or null when every point passes. */
  get drawnMask(): Uint8Array | null {
    return this.mask;
  }

  /** Index of the point nearest to (x, y) in CSS px, within `radius`. */
  pick(x: number, y: number, radius = 8): number | null {
    const p = this.projected();
    return p ? pick(p, x, y, radius, this.mask) : null;
  }

  /** Indices of points inside a polygon given in CSS px. */
  pointsInPolygon(poly: [number, number][]): Uint32Array {
    const p = this.projected();
    return p ? pointsInPolygon(p, poly) : new Uint32Array(0);
  }

  /** Data-space extent currently visible (2D only), for axis ticks. */
  visibleDomain(): { x: [number, number]; y: [number, number] } {
    return this.camera.visibleDomain();
  }

  requestRender(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  resize(): void {
    const { w, h } = this.cssSize;
    const dpr = window.devicePixelRatio || 1;
    for (const c of [this.canvas, this.overlay]) {
      const W = Math.round(w * dpr);
      const H = Math.round(h * dpr);
      if (c.width !== W || c.height !== H) {
        c.width = W;
        c.height = H;
      }
    }
    this.requestRender();
  }

  /** Frames drawn so far (tests check that hovering draws none). */
  frames = 0;

  private render(): void {
    this.frames += 1;
    const gl = this.gl;
    const dpr = window.devicePixelRatio || 1;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const { w, h } = this.cssSize;
    const m = this.camera.matrix(w, h);
    if (this.mode === '3d') this.cube.draw(this.camera.cubeMatrix(w, h), this.gridColor);
    if (this.data && this.n > 0 && this.splatting) this.drawImage(m, dpr);
    else if (this.data && this.n > 0) {
      for (const upload of this.pending.values()) upload();
      this.pending.clear();
      gl.useProgram(this.program);
      gl.bindVertexArray(this.vao);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.paletteTex);
      const u = (name: string) => gl.getUniformLocation(this.program, name);
      gl.uniform1i(u('uPalette'), 0);
      gl.uniformMatrix4fv(u('uMatrix'), false, m);
      gl.uniform1f(u('uPointSize'), this.pointSize * dpr);
      gl.uniform1f(u('uHasSize'), this.data.size ? 1 : 0);
      gl.uniform4fv(u('uDim'), this.dimColor);
      gl.uniform1f(u('uAlpha'), this.alpha);
      gl.uniform4fv(u('uRingColor'), this.ringColor);
      gl.uniform1f(u('uRing'), 0);
      gl.drawArrays(gl.POINTS, 0, this.n);
      if (this.selectionCount > 0) {
        gl.uniform1f(u('uRing'), 3 * dpr);
        gl.uniform1f(u('uAlpha'), 1);
        gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selectionBuffer);
        gl.drawElements(gl.POINTS, this.selectionCount, gl.UNSIGNED_INT, 0);
      }
      gl.bindVertexArray(null);
    }
    this.pointer.drawOverlay();
    if (!this.drawnOnce && this.data && this.n > 0) {
      // The first frame counts as drawn when the GPU has finished it; a fence is polled each
      // animation frame instead of readPixels, which would block the main thread meanwhile.
      this.drawnOnce = true;
      markOnce('tercet:scatter:draw-issued');
      const sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
      gl.flush();
      const poll = () => {
        if (!sync || gl.getSyncParameter(sync, gl.SYNC_STATUS) === gl.SIGNALED) {
          if (sync) gl.deleteSync(sync);
          this.events.onFirstFrame?.(performance.now() - this.startedAt);
        } else requestAnimationFrame(poll);
      };
      requestAnimationFrame(poll);
    }
  }

  /** Whether frames are drawn by the CPU (splat.ts) now. */
  get splatting(): boolean {
    return this.software && this.mode === '2d' && this.n >= this.splatFrom;
  }

  private drawImage(matrix: Float32Array, dpr: number): void {
    const d = this.data!;
    const selection = this.selection.subarray(0, this.selectionCount);
    this.cpuImage.draw(this.canvas.width, this.canvas.height, { x: d.x, y: d.y, color: d.color, size: d.size, mask: this.mask, selection }, {
      matrix,
      pointSize: this.pointSize * dpr,
      alpha: this.alpha,
      dim: this.dimColor,
      ringColor: this.ringColor,
      ring: 3 * dpr,
      palette: this.paletteBytes,
    });
  }

  /** The RGBA bytes drawn at (x, y) in CSS px of the canvas, after drawing a frame now (tests). */
  readPixel(x: number, y: number): [number, number, number, number] {
    this.render();
    const gl = this.gl;
    const dpr = window.devicePixelRatio || 1;
    const px = new Uint8Array(4);
    gl.readPixels(Math.floor(x * dpr), this.canvas.height - 1 - Math.floor(y * dpr), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    return [px[0], px[1], px[2], px[3]];
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

