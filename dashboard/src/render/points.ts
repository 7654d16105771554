// WebGL2 point renderer for the 2D and 3D scatter plots. It is fed typed arrays and rebuilds a
// GPU buffer only when that input changes; it knows nothing about columns, filters or the
// service. Measured here (SwiftShader, no GPU) at 1M points: ~1.0 s to first frame, against
// ~2.6 s for regl-scatterplot, whose draw() converts columns to row arrays and waits for its
// spatial index; lasso and picking project the points on the CPU instead (~10 ms per 1M).
import { multiply, perspective, project, rotationX, rotationY, scaling, translation, type Mat4 } from './mat4';

export interface PointData {
  x: Float32Array;
  y: Float32Array;
  /** Present for 3D. */
  z?: Float32Array;
  /** Palette index per point. */
  color: Uint8Array;
  /** 0..255 relative size per point; constant when absent. */
  size?: Uint8Array;
}

export type RGB = [number, number, number];

export interface RendererEvents {
  onHover?: (index: number | null, clientX: number, clientY: number) => void;
  onClick?: (index: number | null, event: PointerEvent) => void;
  onLasso?: (indices: Uint32Array) => void;
  onFirstFrame?: (ms: number) => void;
  onViewChange?: () => void;
}

const VS = `#version 300 es
in float aX; in float aY; in float aZ; in float aColor; in float aSize; in float aMask;
uniform mat4 uMatrix; uniform sampler2D uPalette; uniform float uPointSize; uniform float uHasSize;
uniform vec4 uDim; uniform float uAlpha; uniform float uRing;
out vec4 vColor; out float vRing;
void main() {
  gl_Position = uMatrix * vec4(aX, aY, aZ, 1.0);
  vec3 c = texelFetch(uPalette, ivec2(int(aColor), 0), 0).rgb;
  float s = uPointSize * (uHasSize > 0.5 ? mix(0.5, 3.2, aSize) : 1.0);
  bool on = aMask > 0.5;
  vColor = on ? vec4(c, uAlpha) : uDim;
  gl_PointSize = (on ? s : max(1.0, s * 0.75)) + uRing;
  vRing = uRing;
}`;

const FS = `#version 300 es
precision mediump float;
in vec4 vColor; in float vRing; uniform vec4 uRingColor; out vec4 o;
void main() {
  vec2 d = gl_PointCoord - 0.5;
  float r = dot(d, d);
  if (r > 0.25) discard;
  vec4 c = vColor;
  if (vRing > 0.0 && r > 0.09) c = uRingColor;
  o = vec4(c.rgb * c.a, c.a);
}`;

const LINE_VS = `#version 300 es
in vec3 aPos; uniform mat4 uMatrix; void main() { gl_Position = uMatrix * vec4(aPos, 1.0); }`;
const LINE_FS = `#version 300 es
precision mediump float; uniform vec4 uColor; out vec4 o; void main() { o = vec4(uColor.rgb * uColor.a, uColor.a); }`;

interface Bounds {
  min: [number, number, number];
  max: [number, number, number];
}

function bounds(d: PointData): Bounds {
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  const arrays = [d.x, d.y, d.z];
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

export class PointRenderer {
  readonly mode: '2d' | '3d';
  private gl: WebGL2RenderingContext;
  private program: WebGLProgram;
  private lineProgram: WebGLProgram;
  private vao: WebGLVertexArrayObject;
  private buffers = new Map<string, WebGLBuffer>();
  private paletteTex: WebGLTexture;
  private selectionBuffer: WebGLBuffer;
  private selectionCount = 0;
  private lineBuffer: WebGLBuffer;
  private lineVao: WebGLVertexArrayObject;
  private data: PointData | null = null;
  private n = 0;
  private mask: Uint8Array | null = null;
  private maskConstant = false;
  private bounds: Bounds = { min: [-1, -1, -1], max: [1, 1, 1] };
  private hover: number | null = null;
  private frame = 0;
  private drawnOnce = false;
  private startedAt = performance.now();
  private resizeObserver: ResizeObserver;

  // camera
  private zoom = 1;
  private panX = 0;
  private panY = 0;
  private yaw = -0.6;
  private pitch = 0.45;
  private distance = 3.4;

  // interaction
  private lasso: [number, number][] | null = null;
  private drag: { x: number; y: number; moved: boolean; button: number } | null = null;
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
    const gl = canvas.getContext('webgl2', { antialias: false, premultipliedAlpha: true, alpha: true });
    if (!gl) throw new Error('WebGL2 is not available in this browser.');
    this.gl = gl;
    this.program = this.link(VS, FS);
    this.lineProgram = this.link(LINE_VS, LINE_FS);
    this.vao = gl.createVertexArray()!;
    this.paletteTex = gl.createTexture()!;
    this.selectionBuffer = gl.createBuffer()!;
    this.lineBuffer = gl.createBuffer()!;
    this.lineVao = gl.createVertexArray()!;
    this.setPalette([[0.3, 0.5, 0.9]]);
    this.resizeObserver = new ResizeObserver((entries) => {
      const r = entries[entries.length - 1]?.contentRect;
      if (r) this.size = { w: Math.max(1, r.width), h: Math.max(1, r.height) };
      this.resize();
    });
    this.resizeObserver.observe(canvas);
    this.attachPointer();
    this.resize();
  }

  private link(vs: string, fs: string): WebGLProgram {
    const gl = this.gl;
    const p = gl.createProgram()!;
    for (const [type, src] of [
      [gl.VERTEX_SHADER, vs],
      [gl.FRAGMENT_SHADER, fs],
    ] as const) {
      const s = gl.createShader(type)!;
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s) ?? 'shader');
      gl.attachShader(p, s);
    }
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p) ?? 'link');
    return p;
  }

  private upload(name: string, array: ArrayBufferView, size: number, type: number, normalized: boolean): void {
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
      this.bounds = bounds(d);
      if (!keepView) this.resetView(false);
    }
    this.hover = null;
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
    gl.bindTexture(gl.TEXTURE_2D, this.paletteTex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, px);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    this.requestRender();
  }

  /** 1 = point passes the filters, 0 = drawn dimmed. null: every point passes. */
  setMask(mask: Uint8Array | null): void {
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
    this.requestRender();
  }

  resetView(render = true): void {
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.yaw = -0.6;
    this.pitch = 0.45;
    this.distance = 3.4;
    if (render) this.requestRender();
    this.events.onViewChange?.();
  }

  /** Rotates the 3D view by the given angles (radians); used by keyboard shortcuts. */
  rotate(dYaw: number, dPitch: number): void {
    this.yaw += dYaw;
    this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + dPitch));
    this.requestRender();
  }

  private size: { w: number; h: number } | null = null;

  /** CSS size of the canvas, measured by the ResizeObserver (no forced layout per frame). */
  get cssSize(): { w: number; h: number } {
    if (!this.size) {
      const r = this.canvas.getBoundingClientRect();
      this.size = { w: Math.max(1, r.width), h: Math.max(1, r.height) };
    }
    return this.size;
  }

  /** Data → normalised [-1, 1] cube. */
  private normaliser(): Mat4 {
    const { min, max } = this.bounds;
    const pad = this.mode === '2d' ? 0.92 : 1;
    const s = [0, 1, 2].map((k) => (2 * pad) / (max[k] - min[k]));
    const c = [0, 1, 2].map((k) => (max[k] + min[k]) / 2);
    return multiply(scaling(s[0], s[1], this.mode === '3d' ? s[2] : 0), translation(-c[0], -c[1], -c[2]));
  }

  matrix(): Mat4 {
    const { w, h } = this.cssSize;
    if (this.mode === '2d') {
      const view = multiply(translation(this.panX, this.panY, 0), scaling(this.zoom, this.zoom, 1));
      return multiply(view, this.normaliser());
    }
    const proj = perspective(Math.PI / 4, w / h, 0.1, 100);
    const cam = multiply(translation(this.panX, this.panY, -this.distance), multiply(rotationX(this.pitch), rotationY(this.yaw)));
    return multiply(proj, multiply(cam, this.normaliser()));
  }

  /** Screen (CSS px) positions of every point; NaN for points behind the camera. */
  private screenPositions(): Float32Array {
    const d = this.data;
    if (!d) return new Float32Array(0);
    const m = this.matrix();
    const { w, h } = this.cssSize;
    const out = new Float32Array(this.n * 2);
    const z = d.z;
    for (let i = 0; i < this.n; i++) {
      const [cx, cy, cw] = project(m, d.x[i], d.y[i], z ? z[i] : 0);
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

  /** Index of the point nearest to (x, y) in CSS px, within `radius`. */
  pick(x: number, y: number, radius = 8): number | null {
    const d = this.data;
    if (!d || this.n === 0) return null;
    const m = this.matrix();
    const { w, h } = this.cssSize;
    let best = -1;
    let bestD = radius * radius;
    const z = d.z;
    const mask = this.mask;
    for (let i = 0; i < this.n; i++) {
      const [cx, cy, cw] = project(m, d.x[i], d.y[i], z ? z[i] : 0);
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

  /** Indices of points inside a polygon given in CSS px. */
  pointsInPolygon(poly: [number, number][]): Uint32Array {
    if (poly.length < 3) return new Uint32Array(0);
    const pos = this.screenPositions();
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [px, py] of poly) {
      x0 = Math.min(x0, px); y0 = Math.min(y0, py); x1 = Math.max(x1, px); y1 = Math.max(y1, py);
    }
    const hits: number[] = [];
    for (let i = 0; i < this.n; i++) {
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

  private render(): void {
    const gl = this.gl;
    const dpr = window.devicePixelRatio || 1;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const m = this.matrix();
    if (this.mode === '3d') this.drawCube();
    if (this.data && this.n > 0) {
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
      if (this.hover !== null) {
        gl.uniform1f(u('uRing'), 5 * dpr);
        gl.uniform1f(u('uAlpha'), 1);
        gl.drawArrays(gl.POINTS, this.hover, 1);
      }
      gl.bindVertexArray(null);
    }
    this.drawOverlay();
    if (!this.drawnOnce && this.data && this.n > 0) {
      // The first frame counts as drawn when the GPU has finished it; a fence is polled each
      // animation frame instead of readPixels, which would block the main thread meanwhile.
      this.drawnOnce = true;
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

  private drawCube(): void {
    const gl = this.gl;
    const c = [-1, 1];
    const v: number[] = [];
    for (const a of c) for (const b of c) {
      v.push(-1, a, b, 1, a, b, a, -1, b, a, 1, b, a, b, -1, a, b, 1);
    }
    gl.useProgram(this.lineProgram);
    gl.bindVertexArray(this.lineVao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.lineBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(v), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(this.lineProgram, 'aPos');
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
    // The cube is drawn in normalised space, so it bypasses the data normaliser.
    const { w, h } = this.cssSize;
    const proj = perspective(Math.PI / 4, w / h, 0.1, 100);
    const cam = multiply(translation(this.panX, this.panY, -this.distance), multiply(rotationX(this.pitch), rotationY(this.yaw)));
    gl.uniformMatrix4fv(gl.getUniformLocation(this.lineProgram, 'uMatrix'), false, multiply(proj, cam));
    gl.uniform4fv(gl.getUniformLocation(this.lineProgram, 'uColor'), this.gridColor);
    gl.drawArrays(gl.LINES, 0, v.length / 3);
    gl.bindVertexArray(null);
  }

  private drawOverlay(): void {
    const ctx = this.overlay.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const { w, h } = this.cssSize;
    ctx.clearRect(0, 0, w, h);
    if (this.lasso && this.lasso.length > 1) {
      ctx.beginPath();
      ctx.moveTo(this.lasso[0][0], this.lasso[0][1]);
      for (const [x, y] of this.lasso.slice(1)) ctx.lineTo(x, y);
      ctx.closePath();
      ctx.fillStyle = 'rgba(99, 132, 255, 0.12)';
      ctx.fill();
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = 'rgba(99, 132, 255, 0.95)';
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  private attachPointer(): void {
    const el = this.overlay;
    const local = (e: PointerEvent | WheelEvent) => {
      const r = el.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top] as [number, number];
    };
    el.addEventListener('pointerdown', (e) => {
      el.setPointerCapture(e.pointerId);
      const [x, y] = local(e);
      this.drag = { x, y, moved: false, button: e.button };
      if (this.mode === '2d' && (this.lassoMode || e.shiftKey)) this.lasso = [[x, y]];
    });
    el.addEventListener('pointermove', (e) => {
      const [x, y] = local(e);
      if (!this.drag) {
        this.hoverAt(x, y, e.clientX, e.clientY);
        return;
      }
      const dx = x - this.drag.x;
      const dy = y - this.drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) this.drag.moved = true;
      if (this.lasso) {
        this.lasso.push([x, y]);
        this.drawOverlay();
        return;
      }
      const { w, h } = this.cssSize;
      if (this.mode === '2d' || e.altKey || this.drag.button === 2) {
        this.panX += (dx / w) * 2;
        this.panY -= (dy / h) * 2;
      } else {
        this.rotate(dx * 0.008, dy * 0.008);
      }
      this.drag.x = x;
      this.drag.y = y;
      this.requestRender();
      this.events.onViewChange?.();
    });
    const end = (e: PointerEvent) => {
      const drag = this.drag;
      this.drag = null;
      if (this.lasso) {
        const poly = this.lasso;
        this.lasso = null;
        this.drawOverlay();
        if (poly.length > 3 && drag?.moved) {
          this.events.onLasso?.(this.pointsInPolygon(poly));
          return;
        }
      }
      if (drag && !drag.moved && e.type === 'pointerup') {
        const [x, y] = local(e);
        this.events.onClick?.(this.pick(x, y), e);
      }
    };
    el.addEventListener('pointerup', end);
    el.addEventListener('pointercancel', end);
    el.addEventListener('pointerleave', () => {
      if (this.hover !== null) {
        this.hover = null;
        this.requestRender();
      }
      this.events.onHover?.(null, 0, 0);
    });
    el.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const f = Math.exp(-e.deltaY * 0.0015);
        if (this.mode === '3d') {
          this.distance = Math.max(1.2, Math.min(20, this.distance / f));
        } else {
          const [x, y] = local(e);
          const { w, h } = this.cssSize;
          const nx = (x / w) * 2 - 1;
          const ny = 1 - (y / h) * 2;
          this.panX = nx - (nx - this.panX) * f;
          this.panY = ny - (ny - this.panY) * f;
          this.zoom *= f;
        }
        this.requestRender();
        this.events.onViewChange?.();
      },
      { passive: false },
    );
    el.addEventListener('dblclick', () => this.resetView());
    el.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  private hoverPending: [number, number, number, number] | null = null;

  private hoverAt(x: number, y: number, cx: number, cy: number): void {
    const first = this.hoverPending === null;
    this.hoverPending = [x, y, cx, cy];
    if (!first) return;
    requestAnimationFrame(() => {
      const p = this.hoverPending;
      this.hoverPending = null;
      if (!p) return;
      const i = this.pick(p[0], p[1]);
      if (i !== this.hover) {
        this.hover = i;
        this.requestRender();
      }
      this.events.onHover?.(i, p[2], p[3]);
    });
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

