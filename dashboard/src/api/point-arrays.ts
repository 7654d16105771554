// The typed arrays of a scatter's points, made from one Arrow answer: ids, coordinates, colour and
// size values, and a dense id → index table. Plain functions with no Svelte in them, so the points
// worker (points.worker.ts) runs them off the page's thread, and the page itself as a fallback.
import type { Table as ArrowTable } from 'apache-arrow';
import { numericColumn } from './arrow';

export interface PointColumns {
  x: string;
  y: string;
  z: string | null;
  color: string | null;
  size: string | null;
}

export interface PointArrays {
  n: number;
  ids: Float64Array;
  x: Float32Array;
  y: Float32Array;
  z: Float32Array | null;
  color: ArrayLike<unknown> | null;
  size: Float64Array | null;
  /** index of each id (-1: none) when ids are small non-negative integers; else null. */
  dense: Int32Array | null;
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

function valuesOf(table: ArrowTable, name: string, numeric: boolean): ArrayLike<unknown> {
  const child = table.getChild(name);
  if (!child) return new Array<unknown>(table.numRows).fill(null);
  if (numeric) return numericColumn(table, name);
  const out = new Array<unknown>(table.numRows);
  for (let i = 0; i < out.length; i++) out[i] = child.get(i);
  return out;
}

/** id → index as a table when ids are small non-negative integers (null otherwise). */
export function denseIndex(ids: Float64Array): Int32Array | null {
  let max = -1;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(Number.isInteger(id) && id >= 0)) return null;
    if (id > max) max = id;
  }
  if (max >= ids.length * 4 + 1024) return null;
  const table = new Int32Array(max + 1).fill(-1);
  for (let i = 0; i < ids.length; i++) table[ids[i]] = i;
  return table;
}

/** The point arrays of an answer to `POST /api/rows` for `cols` (`numericColor`: the colour
 * column holds ints or floats, read as float64; other values are read as they are). */
export function pointArrays(t: ArrowTable, cols: PointColumns, numericColor: boolean): PointArrays {
  const ids = numericColumn(t, 'example_id');
  return {
    n: t.numRows,
    ids,
    x: f32Column(t, cols.x),
    y: f32Column(t, cols.y),
    z: cols.z ? f32Column(t, cols.z) : null,
    color: cols.color ? valuesOf(t, cols.color, numericColor) : null,
    size: cols.size ? numericColumn(t, cols.size) : null,
    dense: denseIndex(ids),
  };
}
