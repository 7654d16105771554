// How a view shows what it has open: the chart tab, the scatter's columns, the grid's hidden
// columns and sort. Defaults come from the first schema; a chart named in the URL wins.
import { isNumeric } from '../../api/client.svelte';
import type { ColumnInfo, SchemaInfo, SortKey } from '../../api/types';
import type { ChartKind, Route } from '../app.svelte';
import type { SchemaState } from './schema.svelte';

export interface ScatterSettings {
  x: string | null;
  y: string | null;
  z: string | null;
  color: string | null;
  size: string | null;
}

export class SettingsState {
  chart = $state<ChartKind>('scatter2d');
  scatter = $state<ScatterSettings>({ x: null, y: null, z: null, color: null, size: null });
  hidden = $state.raw<Set<string>>(new Set());
  sort = $state.raw<SortKey[]>([]);
  visibleColumns = $derived.by<ColumnInfo[]>(() => this.schema.columns.filter((c) => !this.hidden.has(c.name)));
  private readonly chartFromRoute: boolean;
  private defaulted = false;

  constructor(
    private readonly schema: SchemaState,
    route: Route,
  ) {
    if (route.chart) this.chart = route.chart;
    this.chartFromRoute = route.chart !== null;
  }

  /** Picks columns and a chart that suit the first schema; later schemas keep the user's choice. */
  applyDefaults(schema: SchemaInfo): void {
    if (this.defaulted) return;
    this.defaulted = true;
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
    const image = schema.columns.some((c) => c.role === 'image');
    if (!this.chartFromRoute && !projected && floatCount < 2) this.chart = image ? 'image' : 'histogram';
  }

  toggleColumn(name: string): void {
    const next = new Set(this.hidden);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    this.hidden = next;
  }
}
