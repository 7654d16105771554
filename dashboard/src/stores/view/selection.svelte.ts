// Which rows a view has selected, and the one it focuses (for the image and trajectory charts).
// Both are example ids, never row positions: they survive sorting, filtering and new epochs.
import { numericColumn, type ServiceClient } from '../../api/client.svelte';
import { errorMessage } from '../../lib/format';
import type { AppState } from '../app.svelte';
import type { FilterState } from './filters.svelte';
import type { OpenState } from './open.svelte';
import type { SettingsState } from './settings.svelte';

export class SelectionState {
  /** A plain Set, since it can hold a million ids; `version` makes reading it reactive. */
  private readonly set = new Set<number>();
  version = $state(0);
  busy = $state(false);
  focus = $state<number | null>(null);

  constructor(
    private readonly app: AppState,
    private readonly client: ServiceClient,
    private readonly open: OpenState,
    private readonly filters: FilterState,
    private readonly settings: SettingsState,
  ) {}

  get ids(): ReadonlySet<number> {
    void this.version;
    return this.set;
  }

  get size(): number {
    void this.version;
    return this.set.size;
  }

  has(id: number): boolean {
    void this.version;
    return this.set.has(id);
  }

  select(ids: number[], mode: 'replace' | 'toggle' | 'add' = 'replace'): void {
    if (mode === 'replace') this.set.clear();
    for (const id of ids) {
      if (mode === 'toggle' && this.set.has(id)) this.set.delete(id);
      else this.set.add(id);
    }
    this.version += 1;
  }

  clear(): void {
    if (this.set.size === 0) return;
    this.set.clear();
    this.version += 1;
  }

  async selectAllFiltered(): Promise<void> {
    const src = this.open.source;
    if (!src) return;
    this.busy = true;
    try {
      const res = await this.client.rows({ source: src, columns: ['example_id'], filter: this.filters.api, sort: [], offset: 0, limit: 2_000_000 });
      const ids = numericColumn(res.table, 'example_id');
      this.set.clear();
      for (const id of ids) this.set.add(id);
      this.version += 1;
    } catch (e) {
      this.app.toast('error', `Could not select the filtered rows: ${errorMessage(e)}`);
    } finally {
      this.busy = false;
    }
  }

  /** Ids of rows [start, end) of the current query (for shift-click over unloaded rows). */
  async idsInRange(start: number, end: number, sort = this.settings.sort): Promise<number[]> {
    const src = this.open.source;
    if (!src) return [];
    const res = await this.client.rows({ source: src, columns: ['example_id'], filter: this.filters.api, sort, offset: start, limit: end - start });
    return Array.from(numericColumn(res.table, 'example_id'));
  }
}
