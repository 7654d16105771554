// Server-side paging for the grid: pages of rows fetched on demand for one query (source,
// columns, filter, sort), cached, and cancelled when they scroll out of view before arriving.
import { isAbort, plainValue, type ServiceClient } from './client.svelte';
import type { Filter, SortKey, Source } from './types';

export type Row = Record<string, unknown> & { example_id: number };

export interface PagerQuery {
  source: Source;
  columns: string[];
  filter: Filter | null;
  sort: SortKey[];
}

export class RowPager {
  readonly pageSize: number;
  total: number | null = null;
  error: string | null = null;
  private pages = new Map<number, Row[]>();
  private inflight = new Map<number, AbortController>();
  private listeners = new Set<() => void>();
  private disposed = false;

  constructor(
    private client: ServiceClient,
    readonly query: PagerQuery,
    pageSize = 100,
  ) {
    this.pageSize = pageSize;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  row(index: number): Row | undefined {
    const page = this.pages.get(Math.floor(index / this.pageSize));
    return page?.[index % this.pageSize];
  }

  /** Loaded rows in [start, end) — for shift-selection within what is on screen. */
  loadedIds(start: number, end: number): number[] | null {
    const out: number[] = [];
    for (let i = start; i < end; i++) {
      const r = this.row(i);
      if (!r) return null;
      out.push(r.example_id);
    }
    return out;
  }

  /** Makes sure rows [start, end) are loaded or loading; cancels pages far outside. */
  ensure(start: number, end: number): void {
    if (this.disposed) return;
    const first = Math.max(0, Math.floor(start / this.pageSize));
    const last = Math.floor(Math.max(start, end - 1) / this.pageSize);
    for (const [p, ctrl] of this.inflight) {
      if (p < first - 1 || p > last + 1) {
        ctrl.abort();
        this.inflight.delete(p);
      }
    }
    for (let p = first; p <= last; p++) {
      if (this.total !== null && p * this.pageSize >= this.total && p > 0) break;
      if (!this.pages.has(p) && !this.inflight.has(p)) void this.load(p);
    }
    // keep memory bounded: drop pages far from view
    if (this.pages.size > 60) {
      for (const p of [...this.pages.keys()]) if (Math.abs(p - first) > 30) this.pages.delete(p);
    }
  }

  private async load(p: number): Promise<void> {
    const ctrl = new AbortController();
    this.inflight.set(p, ctrl);
    try {
      const res = await this.client.rows(
        {
          source: this.query.source,
          columns: this.query.columns,
          filter: this.query.filter,
          sort: this.query.sort,
          offset: p * this.pageSize,
          limit: this.pageSize,
        },
        ctrl.signal,
      );
      if (this.disposed) return;
      const t = res.table;
      const names = t.schema.fields.map((f) => f.name);
      const cols = names.map((n) => t.getChild(n));
      const rows: Row[] = [];
      for (let i = 0; i < t.numRows; i++) {
        const r: Record<string, unknown> = {};
        names.forEach((n, k) => {
          r[n] = plainValue(cols[k]?.get(i));
        });
        rows.push(r as Row);
      }
      this.pages.set(p, rows);
      this.total = res.total;
      this.error = null;
    } catch (e) {
      if (isAbort(e)) return;
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      if (this.inflight.get(p) === ctrl) this.inflight.delete(p);
    }
    this.emit();
  }

  get loading(): boolean {
    return this.inflight.size > 0;
  }

  dispose(): void {
    this.disposed = true;
    for (const c of this.inflight.values()) c.abort();
    this.inflight.clear();
    this.listeners.clear();
  }
}
