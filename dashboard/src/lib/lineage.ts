import type { TableRevision } from '../api/types';
import { lastSegment, normUrl } from './format';

type DerivedFrom = NonNullable<TableRevision['derived_from']>;

/** A table's name as its author wrote it; the folder slug only when no display name was kept. */
export function tableLabel(rev: Pick<TableRevision, 'table' | 'display_name'>): string {
  return rev.display_name || rev.table;
}

function percent(x: unknown): string {
  return typeof x === 'number' ? `${Math.round(x * 1000) / 10}%` : String(x);
}

/** The rule a split, subset or join recorded in `derived_from`, as one short line. */
export function describeRule(rule: DerivedFrom['rule']): string {
  const r = rule as Record<string, unknown>;
  switch (r.op) {
    case 'split': {
      const fractions = (r.fractions ?? {}) as Record<string, unknown>;
      const parts = Object.entries(fractions).map(([k, v]) => `${k} ${percent(v)}`).join(', ');
      const by = r.by === 'stratified' && r.label ? `stratified by ${String(r.label)}` : r.by === 'random' || r.by === 'stratified' ? String(r.by) : `grouped by ${String(r.by)}`;
      const part = r.part ? `part “${String(r.part)}” of ` : '';
      return `${part}split ${by} (${parts}), seed ${String(r.seed)}`;
    }
    case 'subset':
      return `subset of ${String(r.rows)} rows`;
    case 'join': {
      const cols = Array.isArray(r.columns) ? r.columns.map(String).join(', ') : '';
      return `joined on ${String(r.on)}${cols ? `: ${cols}` : ''}`;
    }
    default:
      return JSON.stringify(rule);
  }
}

/** Where `derived` points: the indexed revision when the project holds it, else the bare URL. */
export function sourceOf(derived: DerivedFrom, index: TableRevision[]): { url: string; label: string; found: boolean } {
  const want = normUrl(derived.revision);
  const hit = index.find((t) => normUrl(t.url) === want);
  if (hit) return { url: hit.url, label: `${hit.dataset} / ${tableLabel(hit)} @ ${hit.name}`, found: true };
  return { url: derived.revision, label: lastSegment(derived.revision), found: false };
}
