// Mouse and touch on the overlay canvas: pan or orbit by dragging, zoom with the wheel, hover and
// click to pick, and the lasso (drawn on the overlay canvas while it is dragged; in 3D it selects
// the points whose projection with the current camera falls inside it).
import type { Camera } from './camera';

export interface RendererEvents {
  onHover?: (index: number | null, clientX: number, clientY: number) => void;
  onClick?: (index: number | null, event: PointerEvent) => void;
  onLasso?: (indices: Uint32Array) => void;
  onFirstFrame?: (ms: number) => void;
  onViewChange?: () => void;
}

/** What the pointer handling needs of the renderer. */
export interface PointerHost {
  readonly camera: Camera;
  readonly cssSize: { w: number; h: number };
  readonly lassoMode: boolean;
  pick(x: number, y: number): number | null;
  /** Where point `i` is drawn (CSS px of the canvas) and its diameter; null when not drawn. */
  ringOf(i: number): { x: number; y: number; d: number } | null;
  readonly ringColor: [number, number, number, number];
  pointsInPolygon(poly: [number, number][]): Uint32Array;
  requestRender(): void;
  resetView(): void;
}

export class PointerControls {
  /** The point under the pointer, ringed by the renderer. */
  hover: number | null = null;
  private lasso: [number, number][] | null = null;
  private drag: { x: number; y: number; moved: boolean; button: number } | null = null;
  private hoverPending: [number, number, number, number] | null = null;

  constructor(
    private readonly el: HTMLCanvasElement,
    private readonly host: PointerHost,
    private readonly events: RendererEvents,
  ) {
    this.attach();
  }

  /**
   * Clears the overlay canvas and draws the hovered point's ring and the lasso being dragged.
   * The ring lives here, not in the WebGL frame: without a GPU, redrawing a million points for
   * each hovered point took seconds and held back the hover card's image.
   */
  drawOverlay(): void {
    const ctx = this.el.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const { w, h } = this.host.cssSize;
    ctx.clearRect(0, 0, w, h);
    const ring = this.hover === null ? null : this.host.ringOf(this.hover);
    if (ring) {
      const [r, g, b, a] = this.host.ringColor;
      ctx.beginPath();
      ctx.arc(ring.x, ring.y, ring.d / 2 + 3, 0, 2 * Math.PI);
      ctx.strokeStyle = `rgba(${Math.round(r * 255)}, ${Math.round(g * 255)}, ${Math.round(b * 255)}, ${a})`;
      ctx.lineWidth = 2;
      ctx.stroke();
    }
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

  private attach(): void {
    const el = this.el;
    const host = this.host;
    const camera = host.camera;
    const local = (e: PointerEvent | WheelEvent) => {
      const r = el.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top] as [number, number];
    };
    el.addEventListener('pointerdown', (e) => {
      el.setPointerCapture(e.pointerId);
      const [x, y] = local(e);
      this.drag = { x, y, moved: false, button: e.button };
      // in 3D too: the lasso is drawn on the screen and the points are projected with the camera
      if (host.lassoMode || e.shiftKey) this.lasso = [[x, y]];
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
      const { w, h } = host.cssSize;
      if (camera.mode === '2d' || e.altKey || this.drag.button === 2) camera.pan(dx, dy, w, h);
      else camera.rotate(dx * 0.008, dy * 0.008);
      this.drag.x = x;
      this.drag.y = y;
      this.clearHover();
      host.requestRender();
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
          this.events.onLasso?.(host.pointsInPolygon(poly));
          return;
        }
      }
      if (drag && !drag.moved && e.type === 'pointerup') {
        const [x, y] = local(e);
        this.events.onClick?.(host.pick(x, y), e);
      }
    };
    el.addEventListener('pointerup', end);
    el.addEventListener('pointercancel', end);
    el.addEventListener('pointerleave', () => this.clearHover());
    el.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const f = Math.exp(-e.deltaY * 0.0015);
        const [x, y] = local(e);
        const { w, h } = host.cssSize;
        camera.zoomBy(f, (x / w) * 2 - 1, 1 - (y / h) * 2);
        // the point under the pointer moved away: its tooltip must not stay behind
        this.clearHover();
        host.requestRender();
        this.events.onViewChange?.();
      },
      { passive: false },
    );
    el.addEventListener('dblclick', () => host.resetView());
    el.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /** Forgets the hovered point (pointer left, view zoomed or rotated); the tooltip goes too. */
  clearHover(): void {
    this.hoverPending = null;
    if (this.hover !== null) {
      this.hover = null;
      this.drawOverlay();
    }
    this.events.onHover?.(null, 0, 0);
  }

  /** Picks at most once per animation frame, however fast the pointer moves. */
  private hoverAt(x: number, y: number, cx: number, cy: number): void {
    const first = this.hoverPending === null;
    this.hoverPending = [x, y, cx, cy];
    if (!first) return;
    requestAnimationFrame(() => {
      const p = this.hoverPending;
      this.hoverPending = null;
      if (!p) return;
      const i = this.host.pick(p[0], p[1]);
      if (i !== this.hover) {
        this.hover = i;
        this.drawOverlay();
      }
      this.events.onHover?.(i, p[2], p[3]);
    });
  }
}
