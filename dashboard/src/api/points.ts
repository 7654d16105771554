// Columnar point data for the scatter plots: every row's coordinates and encodings in one Arrow
// request, an example-id → point-index lookup, and the ids that pass the filters.
import type { Table as ArrowTable } from 'apache-arrow';
import { numericColumn, type ServiceClient } from './client.svelte';
import { markOnce } from '../lib/marks';
import type { ColumnInfo, Filter, Source } from './types';

export interface PointColumns {
  x: string;
  y: string;
  z: string | null;
  color: string | null;
  size: string | null;
}

export interface Points {
  n: number;
  ids: Float64Array;
  x: Float32Array;
  y: Float32Array;
  z: Float32Array | null;
  color: ArrayLike<unknown> | null;
  size: Float64Array | null;
  bytes: number;
  indexOf(id: number): number;
}

/** A numeric column as float32 for the GPU, without a copy when it already is one. */
function f32Column(table: ArrowTable, name: string): Float32Array {
  const child = table.getChild(name);
  if (child && child.nullCount === 0) {
    const arr: unknown = child.toArray();
    if (arr instanceof Float32Array) return arr;
  }
  return Float32Array.from(numericColumn(table, name));
}

function valuesOf(table: ArrowTable, name: string, col: ColumnInfo | undefined): ArrayLike<unknown> {
  const child = table.getChild(name);
  if (!child) return new Array<unknown>(table.numRows).fill(null);
  if (col && (col.type === 'int' || col.type === 'float')) return numericColumn(table, name);
  const out = new Array<unknown>(table.numRows);
  for (let i = 0; i < out.length; i++) out[i] = child.get(i);
  return out;
}

/** id → index: a dense table when ids are small non-negative integers, else a Map. */
function makeIndex(ids: Float64Array): (id: number) => number {
  let max = -1;
  let dense = true;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(Number.isInteger(id) && id >= 0)) {
      dense = false;
      break;
    }
    if (id > max) max = id;
  }
  if (dense && max < ids.length * 4 + 1024) {
    const table = new Int32Array(max + 1).fill(-1);
    for (let i = 0; i < ids.length; i++) table[ids[i]] = i;
    return (id) => (id >= 0 && id <= max ? table[id] : -1);
  }
  const m = new Map<number, number>();
  ids.forEach((id, i) => m.set(id, i));
  return (id) => m.get(id) ?? -1;
}

export async function loadPoints(
  client: ServiceClient,
  source: Source,
  cols: PointColumns,
  schema: ColumnInfo[],
  filter: Filter | null = null /* density mode: only the viewport's rows */,
  limit = 2_000_000,
): Promise<Points> {
  const names = [...new Set(['example_id', cols.x, cols.y, cols.z, cols.color, cols.size].filter((c): c is string => Boolean(c)))];
  markOnce('tercet:points:asked');
  const res = await client.rows({ source, columns: names, filter, sort: [], offset: 0, limit });
  markOnce('tercet:points:decoded');
  const t = res.table;
  const ids = numericColumn(t, 'example_id');
  const info = (n: string | null) => schema.find((c) => c.name === n);
  const points = {
    n: t.numRows,
    ids,
    x: f32Column(t, cols.x),
    y: f32Column(t, cols.y),
    z: cols.z ? f32Column(t, cols.z) : null,
    color: cols.color ? valuesOf(t, cols.color, info(cols.color)) : null,
    size: cols.size ? numericColumn(t, cols.size) : null,
    bytes: res.bytes,
    indexOf: makeIndex(ids),
  };
  markOnce('tercet:points:ready');
  return points;
}

/** Example ids of the rows that pass `filter`: identities, so they fit any points of the source. */
export async function loadPassing(client: ServiceClient, source: Source, filter: Filter): Promise<Float64Array> {
  const res = await client.rows({ source, columns: ['example_id'], filter, sort: [], offset: 0, limit: 2_000_000 });
  return numericColumn(res.table, 'example_id');
}
