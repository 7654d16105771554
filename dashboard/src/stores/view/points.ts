// Point data for a view's scatter plots, shared by its 2D and 3D charts, and the example ids that
// pass its filters. Both are cached per source and data version; the ids are identities, so one
// answer masks any points of the source.
import type { ServiceClient } from '../../api/client.svelte';
import { loadPassing, loadPoints, type PointColumns, type Points } from '../../api/points';
import type { ColumnInfo, Filter, Source } from '../../api/types';

function remember<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>, size: number): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = load();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
    while (cache.size > size) cache.delete(cache.keys().next().value!);
  }
  return p;
}

export class PointCache {
  private cached = new Map<string, Promise<Points>>();
  private passed = new Map<string, Promise<Float64Array>>();

  constructor(private readonly client: ServiceClient) {}

  /** Every row's point data for these columns. */
  points(source: Source, cols: PointColumns, columns: ColumnInfo[], dataVersion: number): Promise<Points> {
    const key = JSON.stringify([source, cols, dataVersion]);
    return remember(this.cached, key, () => loadPoints(this.client, source, cols, columns), 4);
  }

  /** Ids of the rows that pass `filter`. */
  passing(source: Source, filter: Filter, dataVersion: number): Promise<Float64Array> {
    const key = JSON.stringify([source, filter, dataVersion]);
    return remember(this.passed, key, () => loadPassing(this.client, source, filter), 6);
  }
}
