// How a view shows what it has open: the chart tab, the scatter's columns, the grid's hidden
// columns and sort, the rows panel's mode. What the person chose is kept apart from the defaults:
// a default is a pure function of the schema (`defaults.ts`), never of which answer came first,
// so opening, reopening and reloading a view show the same thing. The choices travel in the URL.
import type { PointColumns } from '../../api/points';
import type { ColumnInfo, SchemaInfo, SortKey } from '../../api/types';
import { densityWanted } from '../../lib/density.svelte';
import type { ChartKind, Route } from '../app.svelte';
import { chartDefault, hiddenDefault, scatterDefaults, sortFromHash, sortToHash, type ScatterSettings } from './defaults';
import type { SchemaState } from './schema.svelte';

export type { ScatterSettings } from './defaults';
export type RowsMode = 'grid' | 'gallery';

const SCATTER_KEYS = ['x', 'y', 'z', 'color', 'size'] as const;
type ScatterKey = (typeof SCATTER_KEYS)[number];

/** The scatter's columns: the person's choice where there is one (and its column exists), else the default. */
class ScatterChoice implements ScatterSettings {
  chosen = $state<Partial<Record<ScatterKey, string | null>>>({});

  constructor(private readonly owner: SettingsState) {}

  private get(k: ScatterKey): string | null {
    const c = this.chosen[k];
    if (c === undefined || (c !== null && !this.owner.hasColumn(c))) return this.owner.scatterDefaults[k];
    return c;
  }
  private set(k: ScatterKey, v: string | null): void {
    this.chosen = { ...this.chosen, [k]: v };
  }

  get x() { return this.get('x'); }
  set x(v) { this.set('x', v); }
  get y() { return this.get('y'); }
  set y(v) { this.set('y', v); }
  get z() { return this.get('z'); }
  set z(v) { this.set('z', v); }
  get color() { return this.get('color'); }
  set color(v) { this.set('color', v); }
  get size() { return this.get('size'); }
  set size(v) { this.set('size', v); }
}

function readCollapsed(): { filters: boolean; charts: boolean } {
  try {
    const v = JSON.parse(localStorage.getItem('tercet.collapsed') ?? '{}') as { filters?: unknown; charts?: unknown };
    return { filters: v.filters === true, charts: v.charts === true };
  } catch {
    return { filters: false, charts: false };
  }
}

export class SettingsState {
  private chosenChart = $state<ChartKind | null>(null);
  readonly scatter = new ScatterChoice(this);
  /** Columns whose visibility the person flipped against the default. */
  private flipped = $state.raw<Set<string>>(new Set());
  private chosenSort = $state.raw<SortKey[] | null>(null);
  private chosenGallerySort = $state.raw<SortKey[] | null>(null);
  mode = $state<RowsMode>('grid');
  /** The gallery's tile size in px. */
  tile = $state(132);
  /** Panels folded to a strip; kept in this browser (a layout preference, not a view's state). */
  collapsed = $state<{ filters: boolean; charts: boolean }>(readCollapsed());

  scatterDefaults = $derived.by<ScatterSettings>(() => scatterDefaults(this.schema.columns));
  private names = $derived.by(() => new Set(this.schema.columns.map((c) => c.name)));
  hidden = $derived.by<Set<string>>(() => {
    const out = hiddenDefault(this.schema.columns);
    for (const n of this.flipped) if (out.has(n)) out.delete(n);
    else out.add(n);
    return out;
  });
  visibleColumns = $derived.by<ColumnInfo[]>(() => this.schema.columns.filter((c) => !this.hidden.has(c.name)));

  constructor(
    private readonly schema: Pick<SchemaState, 'columns'>,
    private readonly kind: 'table' | 'run',
    route: Route,
  ) {
    this.chosenChart = route.chart;
    const o = route.options;
    const chosen: Partial<Record<ScatterKey, string | null>> = {};
    for (const k of SCATTER_KEYS) if (o[k] !== undefined) chosen[k] = o[k] === '' ? null : o[k];
    this.scatter.chosen = chosen;
    if (o.sort !== undefined) this.chosenSort = sortFromHash(o.sort);
    if (o.gsort !== undefined) this.chosenGallerySort = sortFromHash(o.gsort);
    if (o.hide !== undefined) this.flipped = new Set(o.hide.split(',').filter(Boolean));
    if (o.mode === 'gallery') this.mode = 'gallery';
  }

  hasColumn(name: string): boolean {
    return this.names.has(name);
  }

  /** The scatter's point columns in `mode`, in the form (and key order) PointCache keys on. */
  pointColumns(mode: '2d' | '3d'): PointColumns | null {
    const s = this.scatter;
    if (!s.x || !s.y || (mode === '3d' && !s.z)) return null;
    return { x: s.x, y: s.y, z: mode === '3d' ? s.z : null, color: s.color, size: s.size };
  }

  /** The points the first frame draws; null when it draws none (another tab, the charts
   * folded, density mode). */
  firstPoints(info: SchemaInfo): PointColumns | null {
    const chart = this.chart;
    if (this.collapsed.charts || (chart !== 'scatter2d' && chart !== 'scatter3d')) return null;
    const mode = chart === 'scatter3d' ? '3d' : '2d';
    if (densityWanted(mode, info.num_rows, info.density_points)) return null;
    return this.pointColumns(mode);
  }

  get chart(): ChartKind {
    return this.chosenChart ?? chartDefault(this.schema.columns);
  }
  set chart(c: ChartKind) {
    this.chosenChart = c;
  }

  /** The grid's sort (none by default: table order). */
  get sort(): SortKey[] {
    return (this.chosenSort ?? []).filter((s) => this.hasColumn(s.column));
  }
  set sort(s: SortKey[]) {
    this.chosenSort = s;
  }

  /** The gallery's sort: in a run view, the highest loss first, where the label errors are. */
  get gallerySort(): SortKey[] {
    if (this.chosenGallerySort) return this.chosenGallerySort.filter((s) => this.hasColumn(s.column));
    const loss = this.kind === 'run' ? this.schema.columns.find((c) => c.role === 'loss' || c.name === 'loss') : undefined;
    return loss ? [{ column: loss.name, desc: true }] : [];
  }
  set gallerySort(s: SortKey[]) {
    this.chosenGallerySort = s;
  }

  /** The sort of the rows panel in its current mode. */
  get rowsSort(): SortKey[] {
    return this.mode === 'gallery' ? this.gallerySort : this.sort;
  }

  togglePanel(panel: 'filters' | 'charts'): void {
    this.collapsed = { ...this.collapsed, [panel]: !this.collapsed[panel] };
    localStorage.setItem('tercet.collapsed', JSON.stringify(this.collapsed));
  }

  toggleColumn(name: string): void {
    const next = new Set(this.flipped);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    this.flipped = next;
  }

  showAll(): void {
    const defaults = hiddenDefault(this.schema.columns);
    this.flipped = defaults;
  }

  /** The choices, for the URL: only what differs from the defaults is written. */
  hashOptions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of SCATTER_KEYS) {
      const c = this.scatter.chosen[k];
      if (c !== undefined && c !== this.scatterDefaults[k]) out[k] = c ?? '';
    }
    if (this.chosenSort) out.sort = sortToHash(this.chosenSort);
    if (this.chosenGallerySort) out.gsort = sortToHash(this.chosenGallerySort);
    if (this.flipped.size) out.hide = [...this.flipped].join(',');
    if (this.mode === 'gallery') out.mode = 'gallery';
    return out;
  }
}
