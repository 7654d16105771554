// One store per open Table or Run view, provided to the view's panels through context; nothing
// here is a module-level singleton. It is cut by concern, each part in its own file:
//   open       what is open: table or run, split, epoch, join, the base revision
//   schema     its columns, and the base revision's (editable) columns
//   filters    filters, their service form, counts
//   selection  selected and focused example ids
//   settings   chart tab, scatter columns, hidden columns, sort
//   edits      pending edits, undo, commit
//   points     point data and filter passes for the scatter plots
//   relabel    palette, accept prediction, weight 0, prediction ≠ label
// This file wires them together and mirrors the view in the URL hash.
import { getContext, setContext, untrack } from 'svelte';
import type { ServiceClient } from '../../api/client.svelte';
import { filtersFromHash, filtersToHash, lassoFromHash, lassoToHash } from '../../api/filters';
import type { SchemaInfo } from '../../api/types';
import type { AppState, Route } from '../app.svelte';
import { EditState } from './edits.svelte';
import { FilterState } from './filters.svelte';
import { OpenState } from './open.svelte';
import { PointCache } from './points';
import { RelabelActions } from './relabel.svelte';
import { SchemaState } from './schema.svelte';
import { SelectionState } from './selection.svelte';
import { SettingsState } from './settings.svelte';

export class ViewStore {
  readonly client: ServiceClient;
  readonly open: OpenState;
  readonly schema: SchemaState;
  readonly filters: FilterState;
  readonly selection: SelectionState;
  readonly settings: SettingsState;
  readonly edits: EditState;
  readonly points: PointCache;
  readonly relabel: RelabelActions;

  constructor(
    readonly app: AppState,
    route: Route,
  ) {
    this.client = app.client;
    this.open = new OpenState(app, route);
    this.schema = new SchemaState(this.client, this.open, (s) => this.schemaLoaded(s));
    this.settings = new SettingsState(this.schema, this.open.kind, route);
    const lasso = lassoFromHash(route.options.lasso ?? null);
    this.filters = new FilterState(app, this.client, this.open, this.schema, [...filtersFromHash(route.filters), ...(lasso ? [lasso] : [])]);
    this.selection = new SelectionState(app, this.client, this.open, this.filters, this.settings);
    this.edits = new EditState(app, this.client, this.open, this.schema);
    this.points = new PointCache(this.client);
    this.relabel = new RelabelActions(app, this.client, this.open, this.schema, this.filters, this.selection, this.edits);
  }

  /** Why the view cannot be shown, while it has no schema. */
  get error(): string | null {
    return this.open.error ?? this.schema.error;
  }

  /** Sets up the effects that keep the view loaded and the hash in step; call during component init. */
  start(): void {
    this.open.start();
    this.schema.start();
    this.edits.start();
    this.filters.start();
    $effect(() => {
      this.app.reflect(this.hashState());
    });
    $effect(() => {
      const r = this.app.route;
      untrack(() => this.open.followRoute(r));
    });
  }

  private schemaLoaded(schema: SchemaInfo): void {
    this.filters.keepColumns(new Set(schema.columns.map((c) => c.name)));
    // The scatter's points are the largest answer of a first load: asked for the moment their
    // columns are known, not once the panels have drawn; the chart then finds them in the cache.
    // (A table view's were asked before the view was made: AppState.prefetch.)
    const src = this.open.source;
    const cols = this.settings.firstPoints(schema);
    if (src && cols) void this.points.points(src, cols, schema.columns, this.open.dataVersion).catch(() => {});
  }

  hashState(): Partial<Route> {
    const o = this.open;
    return {
      project: o.project,
      table: o.kind === 'table' ? o.tableUrl : null,
      run: o.kind === 'run' ? o.runUrl : null,
      split: o.split,
      epoch: o.epoch,
      join: o.join,
      chart: this.settings.chart,
      filters: filtersToHash(this.filters.active) || null,
      options: this.hashOptions(),
    };
  }

  private hashOptions(): Record<string, string> {
    const out = this.settings.hashOptions();
    if (this.open.kind === 'run' && this.open.projection) out.proj = this.open.projection;
    const lasso = lassoToHash(this.filters.active.get('lasso'));
    if (lasso) out.lasso = lasso;
    return out;
  }
}

const KEY = Symbol('view');

export function provideView(v: ViewStore): void {
  setContext(KEY, v);
}

export function useView(): ViewStore {
  return getContext<ViewStore>(KEY);
}
