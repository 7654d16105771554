// The filters of a view (one per column, plus a chart's lasso), their service form, and how many
// rows pass them.
import type { ServiceClient } from '../../api/client.svelte';
import { FilterError, filterKey, toApiFilter, validateFilter, type ColumnFilter } from '../../api/filters';
import type { CountResult, Filter } from '../../api/types';
import { Resource } from '../../lib/resource.svelte';
import type { AppState } from '../app.svelte';
import type { OpenState } from './open.svelte';
import type { SchemaState } from './schema.svelte';

export class FilterState {
  active = $state.raw<ReadonlyMap<string, ColumnFilter>>(new Map());
  api = $derived(toApiFilter(this.active));
  json = $derived(JSON.stringify(this.api));
  /** Counts, with what they were computed for — source, data version and filter — so tests and
   * the UI tell stale counts apart (after a commit the filter is the same but the rows are not). */
  readonly counts = new Resource<{ filter: string; counts: CountResult }>();
  private countsKey = $derived.by(() => JSON.stringify([this.open.source, this.open.dataVersion, this.api]));
  countsReady = $derived(this.counts.result?.filter === this.countsKey);

  constructor(
    private readonly app: AppState,
    private readonly client: ServiceClient,
    private readonly open: OpenState,
    private readonly schema: SchemaState,
    initial: ColumnFilter[],
  ) {
    this.active = new Map(initial.map((f) => [filterKey(f), f]));
  }

  start(): void {
    this.counts.follow(() => {
      const src = this.open.source;
      const filter = this.api;
      const key = this.countsKey;
      if (!src) return null;
      return () => this.client.count(src, filter).then((counts) => ({ filter: key, counts }));
    });
  }

  /** The service filter leaving out some keys: a column's own summary shows what widening it would bring back. */
  except(...keys: string[]): Filter | null {
    if (keys.length <= 1) return toApiFilter(this.active, keys[0]);
    return toApiFilter(new Map([...this.active].filter(([k]) => !keys.includes(k))));
  }

  put(f: ColumnFilter): void {
    try {
      validateFilter(f, this.schema.columns);
    } catch (e) {
      if (e instanceof FilterError) this.app.toast('error', e.message);
      return;
    }
    const next = new Map(this.active);
    next.set(filterKey(f), f);
    this.active = next;
  }

  remove(key: string): void {
    if (!this.active.has(key)) return;
    const next = new Map(this.active);
    next.delete(key);
    this.active = next;
  }

  clear(): void {
    if (this.active.size) this.active = new Map();
  }

  /** Drops filters on columns that went away (another epoch, another join). */
  keepColumns(names: Set<string>): void {
    const kept = new Map([...this.active].filter(([, f]) => names.has(f.column)));
    if (kept.size !== this.active.size) this.active = kept;
  }
}
