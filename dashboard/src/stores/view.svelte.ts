// One store per open Table or Run view: the source it reads, its schema, filters, sort,
// selection, focused sample, chart settings and pending edits (with undo history).
// Provided to the view's panels through context; nothing here is a module-level singleton.
import { getContext, setContext } from 'svelte';
import { isCategorical, isNumeric, ServiceError, numericColumn, type ServiceClient } from '../api/client.svelte';
import { filterKey, filtersFromHash, filtersToHash, toApiFilter, validateFilter, type ColumnFilter, FilterError } from '../api/filters';
import type { Row } from '../api/pager';
import { loadMask, loadPoints, type PointColumns, type Points } from '../api/points';
import type { ColumnInfo, CountResult, Join, RunInfo, SchemaInfo, SortKey, Source, TableRevision } from '../api/types';
import type { AppState, ChartKind, Route } from './app.svelte';
import { EditLog, isEditable, parseValue } from './edits';

export interface ScatterSettings {
  x: string | null;
  y: string | null;
  z: string | null;
  color: string | null;
  size: string | null;
}

const norm = (u: string) => u.replace(/\/+$/, '').replace(/\/object\.json$/, '');

/** The latest leaf below `url`: among its descendants without children, the newest. */
export function latestDescendant(url: string, tables: TableRevision[]): string {
  const children = new Map<string, TableRevision[]>();
  for (const t of tables) {
    if (!t.parent) continue;
    const p = norm(t.parent);
    const list = children.get(p) ?? [];
    list.push(t);
    children.set(p, list);
  }
  const byUrl = new Map(tables.map((t) => [norm(t.url), t]));
  const stack = [norm(url)];
  let best: TableRevision | undefined;
  while (stack.length) {
    const u = stack.pop()!;
    const kids = children.get(u) ?? [];
    const t = byUrl.get(u);
    if (kids.length === 0 && t) {
      if (!best || t.created > best.created || (t.created === best.created && t.id > best.id)) best = t;
    }
    for (const k of kids) stack.push(norm(k.url));
  }
  return best ? best.url : url;
}

export class ViewStore {
  readonly client: ServiceClient;
  readonly kind: 'table' | 'run';

  tableUrl = $state<string | null>(null);
  runUrl = $state<string | null>(null);
  run = $state.raw<RunInfo | null>(null);
  runs = $state.raw<RunInfo[]>([]);
  tables = $state.raw<TableRevision[]>([]);
  split = $state<string>('train');
  epoch = $state<number | null>(null);
  join = $state<Join>('collected');
  projection = $state<string | null>(null);

  schema = $state.raw<SchemaInfo | null>(null);
  loadError = $state<string | null>(null);
  editable = $state.raw<Set<string>>(new Set());
  /** Columns of the table revision (the rest of a run view's columns are metrics). */
  tableColumns = $state.raw<Set<string>>(new Set());
  filters = $state.raw<Map<string, ColumnFilter>>(new Map());
  sort = $state.raw<SortKey[]>([]);
  hidden = $state.raw<Set<string>>(new Set());
  counts = $state<CountResult | null>(null);
  /** The filter the counts were computed for (tests and the UI tell stale counts apart). */
  countsFor = $state<string | null>(null);
  focus = $state<number | null>(null);
  chart = $state<ChartKind>('scatter2d');
  scatter = $state<ScatterSettings>({ x: null, y: null, z: null, color: null, size: null });
  compareRuns = $state.raw<string[]>([]);
  dataVersion = $state(0);
  private chartFromRoute = false;

  /** Selection is a plain Set (it can hold a million ids); `selVersion` makes it reactive. */
  readonly selection = new Set<number>();
  selVersion = $state(0);
  selectionBusy = $state(false);

  edits = $state.raw<EditLog>(new EditLog('about:blank'));
  editsVersion = $state(0);
  committing = $state(false);
  commitError = $state<string | null>(null);
  commitOpen = $state(false);
  pendingOpen = $state(false);

  /** Recently seen rows by example id: originals for the pending-edit list. */
  private seen = new Map<number, Row>();

  source = $derived.by<Source | null>(() => {
    if (this.kind === 'table') return this.tableUrl ? { table: this.tableUrl } : null;
    if (!this.runUrl || this.epoch === null) return null;
    return { run: this.runUrl, split: this.split, epoch: this.epoch, join: this.join, projection: this.projection };
  });

  /** The revision edits are made against (and the image base URL). */
  baseRevision = $derived.by<string | null>(() => {
    if (this.kind === 'table') return this.tableUrl;
    const stream = this.run?.streams.find((s) => s.split === this.split);
    const input = stream?.table ?? this.run?.inputs.find((i) => i.split === this.split)?.table ?? null;
    if (!input) return null;
    return this.join === 'latest' ? latestDescendant(input, this.tables) : input;
  });

  apiFilter = $derived(toApiFilter(this.filters));
  filterJson = $derived(JSON.stringify(this.apiFilter));
  columns = $derived<ColumnInfo[]>(this.schema?.columns ?? []);
  visibleColumns = $derived(this.columns.filter((c) => !this.hidden.has(c.name)));
  epochs = $derived<number[]>(this.run?.streams.find((s) => s.split === this.split)?.epochs ?? []);
  splits = $derived<string[]>(this.run?.streams.map((s) => s.split) ?? []);
  labelColumn = $derived(this.columns.find((c) => c.role === 'label') ?? null);
  predictionColumn = $derived(this.columns.find((c) => c.role === 'prediction') ?? null);
  imageColumn = $derived(this.columns.find((c) => c.role === 'image') ?? null);

  constructor(
    readonly app: AppState,
    route: Route,
  ) {
    this.client = app.client;
    this.kind = route.run ? 'run' : 'table';
    this.tableUrl = route.table;
    this.runUrl = route.run;
    if (route.split) this.split = route.split;
    this.epoch = route.epoch;
    this.join = route.join;
    if (route.chart) this.chart = route.chart;
    this.chartFromRoute = route.chart !== null;
    const initial = new Map<string, ColumnFilter>();
    for (const f of filtersFromHash(route.filters)) initial.set(filterKey(f), f);
    this.filters = initial;
  }

  get project(): string {
    return this.app.route.project ?? '';
  }

  /** Sets up the effects that keep derived data loaded; call during component init. */
  start(): void {
    $effect(() => {
      void this.app.eventCounter;
      void this.loadNavigation();
    });
    $effect(() => {
      const src = this.source;
      if (src) void this.loadSchema(src);
    });
    $effect(() => {
      const base = this.baseRevision;
      if (base) this.bindEdits(base);
    });
    $effect(() => {
      const src = this.source;
      const filter = this.apiFilter;
      void this.dataVersion;
      if (!src) return;
      this.client
        .count(src, filter)
        .then((c) => {
          if (this.source === src && this.apiFilter === filter) {
            this.counts = c;
            this.countsFor = JSON.stringify(filter);
          }
        })
        .catch(() => undefined);
    });
    $effect(() => {
      this.app.reflect(this.hashState());
    });
  }

  hashState(): Partial<Route> {
    return {
      project: this.project,
      table: this.kind === 'table' ? this.tableUrl : null,
      run: this.kind === 'run' ? this.runUrl : null,
      split: this.split,
      epoch: this.epoch,
      join: this.join,
      chart: this.chart,
      filters: filtersToHash(this.filters) || null,
    };
  }

  private async loadNavigation(): Promise<void> {
    try {
      const [tables, runs] = await Promise.all([
        this.client.tables(this.project),
        this.kind === 'run' ? this.client.runs(this.project) : Promise.resolve([] as RunInfo[]),
      ]);
      this.tables = tables;
      if (this.kind === 'run') {
        this.runs = runs;
        const run = runs.find((r) => norm(r.url) === norm(this.runUrl ?? '')) ?? null;
        if (!run) {
          this.loadError = `Run ${this.runUrl} is not in project ${this.project}: pick one from the project page.`;
          return;
        }
        this.run = run;
        if (this.compareRuns.length === 0) this.compareRuns = [run.url];
        if (!run.streams.some((s) => s.split === this.split) && run.streams.length) this.split = run.streams[0].split;
        const epochs = run.streams.find((s) => s.split === this.split)?.epochs ?? [];
        if (this.epoch === null || !epochs.includes(this.epoch)) {
          if (epochs.length) this.epoch = epochs[epochs.length - 1];
          else this.loadError = `Run ${run.name} has no metrics for split "${this.split}" yet: they appear after its first collect_metrics().`;
        } else if (this.loadError?.includes('no metrics')) this.loadError = null;
        if (this.projection === null && run.projections.length) {
          this.projection = run.projections.find((p) => p.endsWith('3d')) ?? run.projections[0];
        }
      }
    } catch (e) {
      this.loadError = e instanceof Error ? e.message : String(e);
    }
  }

  private async loadSchema(src: Source): Promise<void> {
    try {
      const schema = await this.client.schema(src);
      if (this.source !== src) return;
      const firstLoad = this.schema === null;
      this.schema = schema;
      this.loadError = null;
      if (firstLoad) this.applyDefaults(schema);
      // drop filters on columns that went away (another epoch, another join)
      const names = new Set(schema.columns.map((c) => c.name));
      const kept = new Map([...this.filters].filter(([, f]) => names.has(f.column)));
      if (kept.size !== this.filters.size) this.filters = kept;
    } catch (e) {
      if (this.source !== src) return;
      this.loadError = e instanceof Error ? e.message : String(e);
    }
  }

  private applyDefaults(schema: SchemaInfo): void {
    const hidden = new Set<string>();
    for (const c of schema.columns) {
      if (['embedding', 'list', 'struct'].includes(c.type) && c.role !== 'boxes') hidden.add(c.name);
      if (c.role === 'projection' || /^proj_[xyz]$/.test(c.name)) hidden.add(c.name);
    }
    this.hidden = hidden;
    const has = (n: string) => schema.columns.some((c) => c.name === n);
    const numeric = schema.columns.filter((c) => isNumeric(c) && c.role !== 'id' && c.role !== 'weight');
    // plain floats make better default axes than label ids
    const floats = [...numeric.filter((c) => c.type === 'float' && !c.value_map), ...numeric.filter((c) => c.type !== 'float' || c.value_map)];
    const label = schema.columns.find((c) => c.role === 'label');
    const pred = schema.columns.find((c) => c.role === 'prediction');
    const loss = schema.columns.find((c) => c.role === 'loss' || c.name === 'loss');
    const projected = has('proj_x') && has('proj_y');
    this.scatter = {
      x: projected ? 'proj_x' : (floats[0]?.name ?? null),
      y: projected ? 'proj_y' : (floats[1]?.name ?? floats[0]?.name ?? null),
      z: has('proj_z') ? 'proj_z' : (floats[2]?.name ?? null),
      color: label?.name ?? pred?.name ?? null,
      size: loss && projected ? loss.name : null,
    };
    const floatCount = floats.filter((c) => c.type === 'float').length;
    if (!this.chartFromRoute && !projected && floatCount < 2) this.chart = this.imageColumn ? 'image' : 'histogram';
  }

  private bindEdits(base: string): void {
    if (this.edits.base === base) return;
    this.edits = new EditLog(base);
    this.editsVersion += 1;
    this.client
      .schema({ table: base })
      .then((s) => {
        this.editable = new Set(s.columns.filter(isEditable).map((c) => c.name));
        this.tableColumns = new Set(s.columns.map((c) => c.name));
      })
      .catch(() => {
        this.editable = new Set();
      });
    if (this.edits.count > 0) {
      this.app.toast('info', `Restored ${this.edits.count} pending edit(s) saved in this browser for this revision.`);
    }
  }

  column(name: string): ColumnInfo | undefined {
    return this.columns.find((c) => c.name === name);
  }

  // ---------------------------------------------------------------- filters

  setFilter(f: ColumnFilter): void {
    try {
      validateFilter(f, this.columns);
    } catch (e) {
      if (e instanceof FilterError) this.app.toast('error', e.message);
      return;
    }
    const next = new Map(this.filters);
    next.set(filterKey(f), f);
    this.filters = next;
  }

  removeFilter(key: string): void {
    if (!this.filters.has(key)) return;
    const next = new Map(this.filters);
    next.delete(key);
    this.filters = next;
  }

  clearFilters(): void {
    if (this.filters.size) this.filters = new Map();
  }

  // -------------------------------------------------------------- selection

  private bumpSelection(): void {
    this.selVersion += 1;
  }

  select(ids: number[], mode: 'replace' | 'toggle' | 'add' = 'replace'): void {
    if (mode === 'replace') this.selection.clear();
    for (const id of ids) {
      if (mode === 'toggle' && this.selection.has(id)) this.selection.delete(id);
      else this.selection.add(id);
    }
    this.bumpSelection();
  }

  clearSelection(): void {
    if (this.selection.size === 0) return;
    this.selection.clear();
    this.bumpSelection();
  }

  async selectAllFiltered(): Promise<void> {
    const src = this.source;
    if (!src) return;
    this.selectionBusy = true;
    try {
      const res = await this.client.rows({ source: src, columns: ['example_id'], filter: this.apiFilter, sort: [], offset: 0, limit: 2_000_000 });
      const ids = numericColumn(res.table, 'example_id');
      this.selection.clear();
      for (const id of ids) this.selection.add(id);
      this.bumpSelection();
    } catch (e) {
      this.app.toast('error', `Could not select the filtered rows: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.selectionBusy = false;
    }
  }

  /** Ids of rows [start, end) of the current query (for shift-click over unloaded rows). */
  async idsInRange(start: number, end: number): Promise<number[]> {
    const src = this.source;
    if (!src) return [];
    const res = await this.client.rows({ source: src, columns: ['example_id'], filter: this.apiFilter, sort: this.sort, offset: start, limit: end - start });
    return Array.from(numericColumn(res.table, 'example_id'));
  }

  // ------------------------------------------------------------------ edits

  remember(rows: Row[]): void {
    for (const r of rows) this.seen.set(r.example_id, r);
    if (this.seen.size > 20000) {
      const drop = this.seen.size - 15000;
      let i = 0;
      for (const k of this.seen.keys()) {
        if (i++ >= drop) break;
        this.seen.delete(k);
      }
    }
  }

  private originals(column: string, ids: number[]): Map<number, unknown> {
    const m = new Map<number, unknown>();
    for (const id of ids) {
      const r = this.seen.get(id);
      if (r && column in r) m.set(id, r[column]);
    }
    return m;
  }

  private editsChanged(): void {
    this.editsVersion += 1;
    this.commitError = null;
  }

  /** Validates `raw` for `column` and records it for `ids`; says why when it cannot. */
  setValue(column: string, ids: number[], raw: string): boolean {
    const col = this.column(column);
    if (!col) {
      this.app.toast('error', `Column ${column} is not in this view.`);
      return false;
    }
    if (!this.editable.has(column)) {
      this.app.toast('error', `Column ${column} is not a column of table revision ${this.baseRevision ?? ''}: metric columns cannot be edited.`);
      return false;
    }
    if (ids.length === 0) {
      this.app.toast('warning', 'Select one or more rows first (click, ctrl-click, shift-click, or ctrl+A).');
      return false;
    }
    const parsed = parseValue(col, raw);
    if (!parsed.ok) {
      this.app.toast('error', parsed.message);
      return false;
    }
    this.edits.set(column, ids, parsed.value, this.originals(column, ids));
    this.editsChanged();
    return true;
  }

  deleteRows(ids: number[]): void {
    if (ids.length === 0) return;
    this.edits.delete(ids);
    this.editsChanged();
  }

  restoreRows(ids: number[]): void {
    this.edits.restore(ids);
    this.editsChanged();
  }

  undo(): void {
    if (this.edits.undo()) this.editsChanged();
  }

  redo(): void {
    if (this.edits.redo()) this.editsChanged();
  }

  discard(): void {
    this.edits.discard();
    this.editsChanged();
  }

  /** POSTs the pending edits as a new revision; on any failure every edit stays pending. */
  async commit(message: string): Promise<boolean> {
    const base = this.baseRevision;
    if (!base || this.edits.count === 0 || this.committing) return false;
    this.committing = true;
    this.commitError = null;
    const n = this.edits.count;
    try {
      const created = await this.client.commit({ base, message: message || `${n} edit(s) from the dashboard`, edits: this.edits.payload() });
      this.edits.discard();
      this.editsChanged();
      this.client.invalidate('data:');
      this.client.invalidate('nav:');
      this.commitOpen = false;
      this.pendingOpen = false;
      const warn = created.base_had_children ? ' The base revision already had children: this commit starts a new branch.' : '';
      this.app.toast(created.base_had_children ? 'warning' : 'success', `Committed ${n} edit(s) as revision ${created.name}.${warn}`);
      this.tables = await this.client.tables(this.project);
      if (this.kind === 'table') {
        this.tableUrl = created.url;
      } else {
        this.join = 'latest';
      }
      this.dataVersion += 1;
      return true;
    } catch (e) {
      const why = e instanceof ServiceError ? e.message : String(e);
      this.commitError = `${why} — your ${n} pending edit(s) are kept.`;
      this.app.toast('error', 'Commit failed; nothing was lost.', this.commitError);
      return false;
    } finally {
      this.committing = false;
    }
  }

  // ---------------------------------------------------------------- points

  private pointCache = new Map<string, Promise<Points>>();
  private maskCache = new Map<string, Promise<Uint8Array>>();

  /** All rows' point data for a chart; shared by the 2D and 3D views of one source. */
  points(cols: PointColumns): Promise<Points> | null {
    const src = this.source;
    if (!src) return null;
    const key = JSON.stringify([src, cols, this.dataVersion]);
    let p = this.pointCache.get(key);
    if (!p) {
      p = loadPoints(this.client, src, cols, this.columns);
      this.pointCache.set(key, p);
      p.catch(() => this.pointCache.delete(key));
      while (this.pointCache.size > 4) this.pointCache.delete(this.pointCache.keys().next().value!);
    }
    return p;
  }

  /** Which points pass the current filters; null when nothing is filtered. */
  mask(pts: Points, ptsKey: string): Promise<Uint8Array> | null {
    const src = this.source;
    const filter = this.apiFilter;
    if (!src || !filter) return null;
    const key = JSON.stringify([src, filter, ptsKey, this.dataVersion]);
    let p = this.maskCache.get(key);
    if (!p) {
      p = loadMask(this.client, src, filter, pts);
      this.maskCache.set(key, p);
      p.catch(() => this.maskCache.delete(key));
      while (this.maskCache.size > 6) this.maskCache.delete(this.maskCache.keys().next().value!);
    }
    return p;
  }

  // ------------------------------------------------------------------- misc

  categoricalColumns(): ColumnInfo[] {
    return this.columns.filter((c) => isCategorical(c) || (c.type === 'string' && c.role !== 'image'));
  }

  numericColumns(): ColumnInfo[] {
    return this.columns.filter((c) => isNumeric(c) && c.role !== 'id');
  }
}

const KEY = Symbol('view');

export function provideView(v: ViewStore): void {
  setContext(KEY, v);
}

export function useView(): ViewStore {
  return getContext<ViewStore>(KEY);
}
