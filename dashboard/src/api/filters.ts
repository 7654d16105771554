// Filters are kept as structured values, one per key (a column, or a chart's lasso), and turned
// into the service's Filter JSON here and only here; this is also where they are validated.
import type { ColumnInfo, Filter } from './types';

export type Scalar = string | number | boolean | null;

export type ColumnFilter =
  | { kind: 'range'; column: string; min: number | null; max: number | null }
  | { kind: 'in'; column: string; values: Scalar[] }
  | { kind: 'contains'; column: string; text: string }
  | { kind: 'ids'; column: 'example_id'; ids: number[]; label: string }
  /** Rows whose `column` differs from `other` (label vs prediction), for the label values `values`. */
  | { kind: 'mismatch'; column: string; other: string; values: (number | string)[] };

/** A filter's key: the column it narrows, or `lasso` for the ids picked on a chart. */
export function filterKey(f: ColumnFilter): string {
  return f.kind === 'ids' ? 'lasso' : f.kind === 'mismatch' ? 'mismatch' : f.column;
}

export type FilterSet = ReadonlyMap<string, ColumnFilter>;

export class FilterError extends Error {}

export function validateFilter(f: ColumnFilter, columns: ColumnInfo[]): void {
  const col = columns.find((c) => c.name === f.column);
  if (!col) throw new FilterError(`Column "${f.column}" is not in this view.`);
  if (f.kind === 'mismatch' && !columns.some((c) => c.name === f.other)) throw new FilterError(`Column "${f.other}" is not in this view.`);
  if (f.kind === 'range') {
    if (col.type !== 'int' && col.type !== 'float') {
      throw new FilterError(`A range needs a numeric column; "${f.column}" holds ${col.type}.`);
    }
    for (const v of [f.min, f.max]) {
      if (v !== null && !Number.isFinite(v)) {
        throw new FilterError(`Range bounds of "${f.column}" must be numbers.`);
      }
    }
    if (f.min !== null && f.max !== null && f.min > f.max) {
      throw new FilterError(`Range of "${f.column}": the minimum ${f.min} is above the maximum ${f.max}.`);
    }
  }
}

function toApiOne(f: ColumnFilter): Filter | null {
  switch (f.kind) {
    case 'range':
      if (f.min === null && f.max === null) return null;
      return { column: f.column, op: 'range', min: f.min, max: f.max };
    case 'in': {
      const nonNull = f.values.filter((v): v is string | number | boolean => v !== null);
      const inFilter: Filter = { column: f.column, op: 'in', values: nonNull };
      if (nonNull.length === f.values.length) return inFilter;
      const isNull: Filter = { column: f.column, op: 'is_null' };
      return nonNull.length ? { or: [inFilter, isNull] } : isNull;
    }
    case 'contains':
      return f.text ? { column: f.column, op: 'contains', value: f.text } : null;
    case 'ids':
      return { column: 'example_id', op: 'in', values: f.ids };
    case 'mismatch':
      // No column-to-column comparison on the wire: one branch per label value, built from the
      // existing operators (label = v and not prediction = v), so the service needs no new op.
      if (f.values.length === 0) return null;
      return { or: f.values.map((v) => ({ and: [{ column: f.column, op: 'eq', value: v }, { not: { column: f.other, op: 'eq', value: v } }] })) };
  }
}

/** The service Filter for a set of filters, leaving out the one under `exceptKey`. */
export function toApiFilter(filters: FilterSet, exceptKey?: string): Filter | null {
  const parts: Filter[] = [];
  for (const [key, f] of filters) {
    if (key === exceptKey) continue;
    const api = toApiOne(f);
    if (api) parts.push(api);
  }
  if (parts.length === 0) return null;
  if (parts.length === 1) return parts[0];
  return { and: parts };
}

/** A stable string for cache keys. */
export function filterCacheKey(filter: Filter | null): string {
  return filter === null ? '' : JSON.stringify(filter);
}

export function describeFilter(f: ColumnFilter, columns: ColumnInfo[]): string {
  const fmt = (v: number | null) => (v === null ? '…' : formatNumber(v));
  switch (f.kind) {
    case 'range':
      return `${f.column} ${fmt(f.min)} – ${fmt(f.max)}`;
    case 'in': {
      const col = columns.find((c) => c.name === f.column);
      const names = f.values.map((v) => labelName(col, v));
      const shown = names.slice(0, 3).join(', ');
      return `${f.column} ∈ ${shown}${names.length > 3 ? ` +${names.length - 3}` : ''}`;
    }
    case 'contains':
      return `${f.column} contains “${f.text}”`;
    case 'ids':
      return `${f.label}: ${f.ids.length.toLocaleString()} rows`;
    case 'mismatch':
      return `${f.other} ≠ ${f.column}`;
  }
}

export function labelName(col: ColumnInfo | undefined, v: Scalar): string {
  if (v === null) return '(empty)';
  const entry = col?.value_map?.[String(v)];
  return entry ? entry.name : String(v);
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** Filters that travel in the URL hash (lasso ids stay out: they can be a million numbers). */
export function filtersToHash(filters: FilterSet): string {
  const small = [...filters.values()].filter((f) => f.kind !== 'ids');
  return small.length ? JSON.stringify(small) : '';
}

export function filtersFromHash(text: string | null): ColumnFilter[] {
  if (!text) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (f): f is ColumnFilter =>
        typeof f === 'object' && f !== null && typeof (f as { column?: unknown }).column === 'string' &&
        ['range', 'in', 'contains', 'mismatch'].includes((f as { kind?: string }).kind ?? ''),
    );
  } catch {
    return [];
  }
}

/** Lassos longer than this stay out of the URL (a bookmark of a million ids would not load). */
const LASSO_IN_URL = 50_000;

/** A lasso for the URL: its label, then its ids as runs (`2D~1-40,52`); '' when too large. */
export function lassoToHash(f: ColumnFilter | undefined): string {
  if (!f || f.kind !== 'ids' || f.ids.length > LASSO_IN_URL) return '';
  const ids = [...f.ids].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < ids.length; ) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1 && Number.isInteger(ids[j])) j++;
    parts.push(j > i ? `${ids[i]}-${ids[j]}` : String(ids[i]));
    i = j + 1;
  }
  return `${f.label}~${parts.join(',')}`;
}

export function lassoFromHash(text: string | null): ColumnFilter | null {
  if (!text) return null;
  const cut = text.indexOf('~');
  if (cut < 0) return null;
  const ids: number[] = [];
  for (const part of text.slice(cut + 1).split(',')) {
    const m = /^(-?\d+(?:\.\d+)?)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b - a > LASSO_IN_URL) return null;
    for (let v = a; v <= b; v++) ids.push(v);
  }
  return ids.length ? { kind: 'ids', column: 'example_id', ids, label: text.slice(0, cut) || 'Lasso' } : null;
}
