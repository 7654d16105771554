// Density mode of the 2D scatter: past the service's `density_points` the browser does not receive
// every point. It asks `POST /api/density` for the filtered rows binned over the whole extent (the
// overview, drawn at once) and then over the visible rectangle after each pan or zoom (finer cells
// as one zooms in: the level of detail follows the zoom). When the visible rectangle holds few
// enough rows, those rows are fetched as points, so hover, click, lasso and colour-by work on real
// rows with their example ids.
import type { ServiceClient } from '../api/client.svelte';
import { loadPoints, type PointColumns, type Points } from '../api/points';
import type { ColumnInfo, DensityResult, Filter, Source } from '../api/types';
import { errorMessage } from './format';

/** Most rows drawn as points in density mode (the service's own threshold may be lower). */
export const VIEW_POINTS = 50_000;
/** Cells across the overview and the viewport grids. */
export const BINS = 256;
/** How long the view must rest before a finer grid is asked (ms): no request per pan frame. */
const SETTLE_MS = 90;

export interface Domain {
  x: [number, number];
  y: [number, number];
}

export interface DensityInputs {
  source: Source;
  filter: Filter | null;
  cols: PointColumns;
  columns: ColumnInfo[];
  version: number;
  /** The service's `density_points`. */
  threshold: number;
}

/** Whether a scatter of `rows` rows is drawn as density (2D only; 3D always draws points). */
export function densityWanted(mode: '2d' | '3d', rows: number | undefined, threshold: number | undefined): boolean {
  return mode === '2d' && rows !== undefined && threshold !== undefined && rows > threshold;
}

/** The part of `d` inside the grid's extent; null when they do not meet. */
function clip(d: Domain, e: NonNullable<DensityResult['extent']>): Domain | null {
  const x: [number, number] = [Math.max(d.x[0], e.x0), Math.min(d.x[1], e.x1)];
  const y: [number, number] = [Math.max(d.y[0], e.y0), Math.min(d.y[1], e.y1)];
  return x[0] <= x[1] && y[0] <= y[1] ? { x, y } : null;
}

function rangeFilter(filter: Filter | null, cols: PointColumns, d: Domain): Filter {
  const ranges: Filter[] = [
    { column: cols.x, op: 'range', min: d.x[0], max: d.x[1] },
    { column: cols.y, op: 'range', min: d.y[0], max: d.y[1] },
  ];
  return { and: filter ? [filter, ...ranges] : ranges } as Filter;
}

export class DensityView {
  /** The filtered rows over their whole extent. */
  overview = $state.raw<DensityResult | null>(null);
  /** The visible rectangle's grid (null: the overview is the finest there is). */
  detail = $state.raw<DensityResult | null>(null);
  /** The visible rectangle's rows, when few enough; null: density only. */
  points = $state.raw<Points | null>(null);
  error = $state<string | null>(null);
  /** Density answers received (tests see a zoom refetch by this). */
  fetches = $state(0);

  private inputs: DensityInputs | null = null;
  private key = '';
  private gridKey = '';
  /** The filter the drawn points were fetched with (to fetch them again with other columns). */
  private pointsFilter: Filter | null = null;
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pending: Domain | null = null;
  /** `points` are every filtered row (not one viewport's). */
  private wholePoints = false;

  constructor(private readonly client: ServiceClient) {}

  /** Most rows in view drawn as points. */
  get limit(): number {
    return Math.min(VIEW_POINTS, this.inputs?.threshold ?? VIEW_POINTS);
  }

  /** Starts over for new inputs (source, filter, axes, data version); same inputs: no-op. A new
   * colour or size column keeps the grids and fetches the points drawn again with it. */
  reset(inputs: DensityInputs): void {
    const { cols } = inputs;
    const gridKey = JSON.stringify([inputs.source, inputs.filter, cols.x, cols.y, inputs.version, inputs.threshold]);
    const key = JSON.stringify([gridKey, cols.color, cols.size]);
    if (key === this.key) return;
    const sameGrid = gridKey === this.gridKey && this.overview !== null;
    this.key = key;
    this.gridKey = gridKey;
    this.inputs = inputs;
    const seq = ++this.seq;
    if (sameGrid) {
      // the grids stand; the points drawn are fetched again with the new columns
      if (this.pending && !this.wholePoints) void this.refine(this.pending);
      else if (this.points) void this.rows(inputs, this.pointsFilter, seq).then((pts) => seq === this.seq && pts && (this.points = pts));
      return;
    }
    this.overview = null;
    this.detail = null;
    this.points = null;
    this.wholePoints = false;
    this.error = null;
    const { source, filter } = inputs;
    this.client
      .density({ source, filter, x: cols.x, y: cols.y, bins: BINS, max_points: this.limit })
      .then(async (grid) => {
        if (seq !== this.seq) return;
        this.fetches += 1;
        this.overview = grid;
        if (grid.total > 0 && grid.points) {
          const pts = await this.rows(inputs, filter, seq);
          if (seq !== this.seq) return;
          this.points = pts;
          this.wholePoints = true;
        }
        const waiting = this.pending;
        if (waiting) void this.refine(waiting);
      })
      .catch((e: unknown) => {
        if (seq === this.seq) this.error = errorMessage(e);
      });
  }

  /** Stops answers of the current inputs from landing (the scatter left density mode). */
  stop(): void {
    this.seq += 1;
    this.key = '';
    this.gridKey = '';
    if (this.timer) clearTimeout(this.timer);
  }

  /** The visible rectangle changed: once it rests, ask its grid and, when few, its rows. */
  view(domain: Domain): void {
    // new points re-report the same rectangle: that must not ask again (nor loop)
    const p = this.pending;
    if (p && p.x[0] === domain.x[0] && p.x[1] === domain.x[1] && p.y[0] === domain.y[0] && p.y[1] === domain.y[1]) return;
    this.pending = domain;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refine(domain);
    }, SETTLE_MS);
  }

  private async refine(domain: Domain): Promise<void> {
    const inputs = this.inputs;
    const whole = this.overview;
    if (!inputs || !whole?.extent || !whole.viewport) return;
    const seq = this.seq;
    if (whole.points && this.wholePoints) return; // every filtered row is drawn already
    const d = clip(domain, whole.extent);
    const covers = !d || (d.x[0] <= whole.extent.x0 && d.x[1] >= whole.extent.x1 && d.y[0] <= whole.extent.y0 && d.y[1] >= whole.extent.y1);
    if (covers) {
      // the whole extent is in view: the overview is this grid, and its points (if any) stand
      this.detail = null;
      if (!whole.points) this.points = null;
      else if (!this.wholePoints) {
        const pts = await this.rows(inputs, inputs.filter, seq);
        if (seq !== this.seq || this.pending !== domain) return;
        this.points = pts;
        this.wholePoints = true;
      }
      return;
    }
    const { source, filter, cols } = inputs;
    const viewport = { x0: d.x[0], x1: d.x[1], y0: d.y[0], y1: d.y[1] };
    try {
      const grid = await this.client.density({ source, filter, x: cols.x, y: cols.y, viewport, bins: BINS, max_points: this.limit });
      if (seq !== this.seq || this.pending !== domain) return;
      this.fetches += 1;
      const pts = grid.points ? await this.rows(inputs, rangeFilter(filter, cols, d), seq) : null;
      if (seq !== this.seq || this.pending !== domain) return;
      this.detail = grid;
      this.points = pts;
      this.wholePoints = false;
    } catch (e) {
      if (seq === this.seq) this.error = errorMessage(e);
    }
  }

  private async rows(inputs: DensityInputs, filter: Filter | null, seq: number): Promise<Points | null> {
    const pts = await loadPoints(this.client, inputs.source, inputs.cols, inputs.columns, filter, this.limit);
    if (seq !== this.seq) return null;
    this.pointsFilter = filter;
    return pts;
  }
}
