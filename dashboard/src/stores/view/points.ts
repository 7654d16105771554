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

/**
 * Points asked before their view exists (`prefetchPoints`, beside the health check), per client;
 * the view's PointCache takes each once, so the first frame's points are asked once, not twice.
 */
const early = new WeakMap<ServiceClient, Map<string, Promise<Points>>>();

function pointsKey(source: Source, cols: PointColumns, dataVersion: number): string {
  return JSON.stringify([source, cols, dataVersion]);
}

/** Asks for a view's first points now; its PointCache will find them (same key or not at all). */
export function prefetchPoints(client: ServiceClient, source: Source, cols: PointColumns, columns: ColumnInfo[]): void {
  let m = early.get(client);
  if (!m) early.set(client, (m = new Map()));
  const key = pointsKey(source, cols, 0);
  if (m.has(key)) return;
  const p = loadPoints(client, source, cols, columns);
  const drop = () => m.get(key) === p && m.delete(key);
  p.catch(drop); // the view asks again and reports the error
  setTimeout(drop, 30_000); // a view that never came (another page, other columns) lets them go
  m.set(key, p);
}

export class PointCache {
  private cached = new Map<string, Promise<Points>>();
  private passed = new Map<string, Promise<Float64Array>>();

  constructor(private readonly client: ServiceClient) {}

  /** Every row's point data for these columns. */
  points(source: Source, cols: PointColumns, columns: ColumnInfo[], dataVersion: number): Promise<Points> {
    const key = pointsKey(source, cols, dataVersion);
    return remember(this.cached, key, () => this.takeEarly(key) ?? loadPoints(this.client, source, cols, columns), 4);
  }

  private takeEarly(key: string): Promise<Points> | undefined {
    const m = early.get(this.client);
    const p = m?.get(key);
    m?.delete(key);
    return p;
  }

  /** Ids of the rows that pass `filter`. */
  passing(source: Source, filter: Filter, dataVersion: number): Promise<Float64Array> {
    const key = JSON.stringify([source, filter, dataVersion]);
    return remember(this.passed, key, () => loadPassing(this.client, source, filter), 6);
  }
}
