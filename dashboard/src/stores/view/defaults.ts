// A view's defaults as pure functions of its columns: the same schema always gives the same axes,
// colours, hidden columns and chart, whichever answer arrived first. Sorts in the URL are
// `column:asc,column:desc`.
import { isNumeric } from '../../api/client.svelte';
import type { ColumnInfo, SortKey } from '../../api/types';
import type { ChartKind } from '../app.svelte';

export interface ScatterSettings {
  x: string | null;
  y: string | null;
  z: string | null;
  color: string | null;
  size: string | null;
}

function floatsFirst(columns: ColumnInfo[]): ColumnInfo[] {
  const numeric = columns.filter((c) => isNumeric(c) && c.role !== 'id' && c.role !== 'weight');
  // plain floats make better default axes than label ids
  return [...numeric.filter((c) => c.type === 'float' && !c.value_map), ...numeric.filter((c) => c.type !== 'float' || c.value_map)];
}

export function scatterDefaults(columns: ColumnInfo[]): ScatterSettings {
  const has = (n: string) => columns.some((c) => c.name === n);
  const floats = floatsFirst(columns);
  const label = columns.find((c) => c.role === 'label');
  const pred = columns.find((c) => c.role === 'prediction');
  const loss = columns.find((c) => c.role === 'loss' || c.name === 'loss');
  const projected = has('proj_x') && has('proj_y');
  return {
    x: projected ? 'proj_x' : (floats[0]?.name ?? null),
    y: projected ? 'proj_y' : (floats[1]?.name ?? floats[0]?.name ?? null),
    z: has('proj_z') ? 'proj_z' : projected ? null : (floats[2]?.name ?? null),
    color: label?.name ?? pred?.name ?? null,
    size: loss && projected ? loss.name : null,
  };
}

export function hiddenDefault(columns: ColumnInfo[]): Set<string> {
  const hidden = new Set<string>();
  for (const c of columns) {
    if (['embedding', 'list', 'struct'].includes(c.type) && c.role !== 'boxes') hidden.add(c.name);
    if (c.role === 'projection' || /^proj_[xyz]$/.test(c.name)) hidden.add(c.name);
  }
  return hidden;
}

export function chartDefault(columns: ColumnInfo[]): ChartKind {
  const projected = columns.some((c) => c.name === 'proj_x') && columns.some((c) => c.name === 'proj_y');
  const floatCount = floatsFirst(columns).filter((c) => c.type === 'float').length;
  if (projected || floatCount >= 2 || columns.length === 0) return 'scatter2d';
  return columns.some((c) => c.role === 'image') ? 'image' : 'histogram';
}

export function sortToHash(sort: SortKey[]): string {
  return sort.map((s) => `${s.column}:${s.desc ? 'desc' : 'asc'}`).join(',');
}

export function sortFromHash(text: string): SortKey[] {
  return text
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const i = part.lastIndexOf(':');
      const column = i > 0 ? part.slice(0, i) : part;
      return { column, desc: i > 0 && part.slice(i + 1) === 'desc' };
    });
}
