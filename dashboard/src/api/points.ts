// Columnar point data for the scatter plots: every row's coordinates and encodings in one Arrow
// request, an example-id → point-index lookup, and the ids that pass the filters.
import { numericColumn, type ServiceClient } from './client.svelte';
import { markOnce } from '../lib/marks';
import { pointArrays, type PointArrays, type PointColumns } from './point-arrays';
import type { ColumnInfo, Filter, Source } from './types';

export type { PointColumns } from './point-arrays';

export interface Points extends Omit<PointArrays, 'dense'> {
  bytes: number;
  indexOf(id: number): number;
  /** Sets out[i] = 1 at the position of each of `ids` found (out may be null); returns how many. */
  markIds(ids: Float64Array, out: Uint8Array | null): number;
}

/** id → index: the dense table when the ids allowed one, else a Map. */
function makeIndex(ids: Float64Array, dense: Int32Array | null): (id: number) => number {
  if (dense) {
    const max = dense.length - 1;
    return (id) => (id >= 0 && id <= max ? dense[id] : -1);
  }
  const m = new Map<number, number>();
  ids.forEach((id, i) => m.set(id, i));
  return (id) => m.get(id) ?? -1;
}

/** Filter passes (a million ids) against the points: one typed loop over the dense table, no
 * call per id; a Map lookup when the ids are too sparse for a table. */
function makeMarker(indexOf: (id: number) => number, dense: Int32Array | null): Points['markIds'] {
  return (ids, out) => {
    let found = 0;
    if (dense) {
      const max = dense.length - 1;
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k];
        const i = id >= 0 && id <= max ? dense[id] : -1;
        if (i >= 0) {
          found += 1;
          if (out) out[i] = 1;
        }
      }
      return found;
    }
    for (let k = 0; k < ids.length; k++) {
      const i = indexOf(ids[k]);
      if (i >= 0) {
        found += 1;
        if (out) out[i] = 1;
      }
    }
    return found;
  };
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
  // compact: ids and labels in the narrowest ints, floats as float32 (13 MB a million, not 20)
  const req = { source, columns: names, filter, sort: [], offset: 0, limit, compact: true };
  const colorInfo = cols.color ? schema.find((c) => c.name === cols.color) : undefined;
  const numericColor = colorInfo !== undefined && (colorInfo.type === 'int' || colorInfo.type === 'float');
  markOnce('tercet:points:asked');
  // numbers only (colour by a number, or none) are read in the worker; other colour values are
  // Arrow values a worker cannot hand over as they are, so the page reads those answers itself
  let got = !cols.color || numericColor ? await client.pointRows(req, cols) : null;
  if (got?.received) markOnce('tercet:points:received', got.received - performance.timeOrigin);
  if (!got) {
    const res = await client.rows(req);
    got = { points: pointArrays(res.table, cols, numericColor), bytes: res.bytes };
  }
  markOnce('tercet:points:decoded');
  const p: PointArrays = got.points;
  const indexOf = makeIndex(p.ids, p.dense);
  const points = { n: p.n, ids: p.ids, x: p.x, y: p.y, z: p.z, color: p.color, size: p.size, bytes: got.bytes, indexOf, markIds: makeMarker(indexOf, p.dense) };
  markOnce('tercet:points:ready');
  return points;
}

/** Example ids of the rows that pass `filter`: identities, so they fit any points of the source. */
export async function loadPassing(client: ServiceClient, source: Source, filter: Filter): Promise<Float64Array> {
  const res = await client.rows({ source, columns: ['example_id'], filter, sort: [], offset: 0, limit: 2_000_000, compact: true });
  return numericColumn(res.table, 'example_id');
}
