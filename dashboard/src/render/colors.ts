// Colour encodings: a column's values → palette indices (Uint8) + palette + legend.
import type { ColumnInfo } from '../api/types';
import type { RGB } from './points';

export const CATEGORICAL = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7',
  '#9c755f', '#bab0ac', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
  '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

// viridis, 9 stops; interpolated to 64 bins
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];
const CONTINUOUS_BINS = 64;
const MISSING = '#888888';

export function hexToRgb(hex: string): RGB {
  let h = hex.trim().replace('#', '');
  if (h.length === 3) h = h.split('').map((c) => c + c).join('');
  const n = parseInt(h.slice(0, 6), 16);
  if (Number.isNaN(n)) return [0.5, 0.5, 0.5];
  return [((n >> 16) & 255) / 255, ((n >> 8) & 255) / 255, (n & 255) / 255];
}

export function rgbToCss(c: RGB): string {
  return `rgb(${Math.round(c[0] * 255)}, ${Math.round(c[1] * 255)}, ${Math.round(c[2] * 255)})`;
}

function lerp(a: RGB, b: RGB, t: number): RGB {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

export function viridis(t: number): RGB {
  const stops = VIRIDIS.map(hexToRgb);
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  return lerp(stops[i], stops[i + 1], x - i);
}

export function categoryColor(col: ColumnInfo | undefined, value: unknown, fallbackIndex: number): string {
  const entry = col?.value_map?.[String(value)];
  if (entry?.color) return entry.color;
  const n = typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : fallbackIndex;
  return CATEGORICAL[n % CATEGORICAL.length];
}

export interface LegendItem {
  label: string;
  color: string;
  value: unknown;
}

export interface ColorEncoding {
  codes: Uint8Array;
  palette: RGB[];
  kind: 'constant' | 'categorical' | 'continuous';
  legend: LegendItem[];
  range?: [number, number];
}

export function constantEncoding(n: number, color: string): ColorEncoding {
  return { codes: new Uint8Array(n), palette: [hexToRgb(color)], kind: 'constant', legend: [] };
}

/** Categorical values (label ids, strings, bools): up to 254 categories, the rest "other". */
export function categoricalEncoding(values: ArrayLike<unknown>, col: ColumnInfo | undefined): ColorEncoding {
  const index = new Map<string, number>();
  const legend: LegendItem[] = [];
  const palette: RGB[] = [];
  const codes = new Uint8Array(values.length);
  const keyOf = (v: unknown) => (v === null || v === undefined ? '∅' : String(typeof v === 'number' && Number.isNaN(v) ? '∅' : v));
  // value_map order first, so colours stay put across epochs and filters
  if (col?.value_map) {
    for (const [k, e] of Object.entries(col.value_map)) {
      if (index.size >= 254) break;
      const color = e.color ?? CATEGORICAL[Number(k) % CATEGORICAL.length] ?? MISSING;
      index.set(k, index.size);
      palette.push(hexToRgb(color));
      legend.push({ label: e.name, color, value: Number(k) });
    }
  }
  // Small non-negative integers (label ids) are looked up by value, not by their text: the same
  // codes as the keys below, without a string per point; `codeOf` runs once per other value.
  const byInt = new Int16Array(1024).fill(-1);
  const codeOf = (v: unknown): number => {
    const k = keyOf(v);
    let code = index.get(k);
    if (code === undefined) {
      if (index.size >= 254) code = 255;
      else {
        code = index.size;
        const color = k === '∅' ? MISSING : categoryColor(col, v, code);
        index.set(k, code);
        palette.push(hexToRgb(color));
        legend.push({ label: k === '∅' ? '(empty)' : k, color, value: v });
      }
    }
    if (typeof v === 'number' && v >= 0 && v < 1024 && Number.isInteger(v)) byInt[v] = code;
    return code;
  };
  if (values instanceof Float64Array) {
    // the points worker's numbers: a typed loop, no test of each value's type
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const c = v >= 0 && v < 1024 && v === Math.floor(v) ? byInt[v] : -1;
      codes[i] = c >= 0 ? c : codeOf(v);
    }
  } else {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const c = typeof v === 'number' && v >= 0 && v < 1024 && Number.isInteger(v) ? byInt[v] : -1;
      codes[i] = c >= 0 ? c : codeOf(v);
    }
  }
  while (palette.length < 255) palette.push(hexToRgb(MISSING));
  palette.push(hexToRgb(MISSING));
  return { codes, palette, kind: 'categorical', legend };
}

export function continuousEncoding(values: Float64Array | Float32Array): ColorEncoding {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  }
  const span = hi - lo || 1;
  const codes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    codes[i] = Number.isFinite(v) ? Math.min(CONTINUOUS_BINS - 1, Math.floor(((v - lo) / span) * CONTINUOUS_BINS)) : 255;
  }
  const palette: RGB[] = [];
  for (let i = 0; i < 255; i++) palette.push(i < CONTINUOUS_BINS ? viridis(i / (CONTINUOUS_BINS - 1)) : hexToRgb(MISSING));
  palette.push(hexToRgb(MISSING));
  return { codes, palette, kind: 'continuous', legend: [], range: [lo, hi] };
}

export function viridisGradientCss(): string {
  return `linear-gradient(90deg, ${VIRIDIS.join(', ')})`;
}

/** 0..255 sizes from a numeric column (min → 0, max → 255). */
export function sizeEncoding(values: Float64Array): Uint8Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo || 1;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = Number.isFinite(v) ? Math.round(((v - lo) / span) * 255) : 0;
  }
  return out;
}
