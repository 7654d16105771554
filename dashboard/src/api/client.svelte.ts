// Over 400 lines: one method per service endpoint, all behind the one client that owns auth and errors.
// The one data client: every request to the Object Service goes through here. It owns
// authentication, error translation, caching of metadata answers, and the counters the
// loading bar and the benchmark read.
import { tableFromIPC, type Table as ArrowTable } from 'apache-arrow';
import { untrack } from 'svelte';
import { filterCacheKey } from './filters';
import type { PointArrays, PointColumns } from './point-arrays';
import type { PointsAnswer, PointsAsk } from './points.worker';
import { followEvents, type EventHandlers } from './sse';
import type {
  ColumnInfo,
  ConfusionResult,
  CountResult,
  DensityRequest,
  DensityResult,
  FileGrant,
  Filter,
  Health,
  InsightsSummary,
  Join,
  ProjectInfo,
  RevisionChanges,
  RevisionCreated,
  RevisionRequest,
  RowsRequest,
  RunInfo,
  ScalarsResult,
  SchemaInfo,
  SimilarRequest,
  SimilarResult,
  Source,
  Summary,
  TableRevision,
  TrajectoryResult,
} from './types';

export type ErrorKind = 'unreachable' | 'unauthorized' | 'needs_token' | 'not_allowed' | 'invalid' | 'not_found' | 'server' | 'aborted';

export class ServiceError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly status = 0,
  ) {
    super(message);
  }
}

export interface RowsResult {
  table: ArrowTable;
  total: number;
  offset: number;
  bytes: number;
}

interface Stats {
  requests: number;
  bytes: number;
}

declare global {
  interface Window {
    __tercetStats?: Stats;
  }
}

export function isAbort(e: unknown): boolean {
  return (
    (e instanceof ServiceError && e.kind === 'aborted') ||
    (e instanceof DOMException && e.name === 'AbortError')
  );
}

export class ServiceClient {
  /** Requests in flight; the loading bar shows after 200 ms of this being > 0. */
  inflight = $state(0);
  private cache = new Map<string, Promise<unknown>>();
  private stats: Stats = { requests: 0, bytes: 0 };

  constructor(
    readonly service: string,
    readonly token: string,
  ) {
    window.__tercetStats = this.stats;
    this.pointsWorker(); // started now: its script is loaded by the time the points are asked
  }

  /** Drops cached metadata answers (after an index event or a commit). */
  invalidate(prefix = ''): void {
    for (const key of [...this.cache.keys()]) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  /**
   * `<img src>` for a data file. Images cannot send the token, and the token never goes in a
   * URL: they carry a short-lived grant for `GET /api/file` instead (see `refreshGrant`).
   * Reading `grant` here makes every image URL follow a renewed grant.
   */
  fileUrl(url: string, base: string | null, thumb?: number): string {
    const q = new URLSearchParams({ url });
    if (base) q.set('base', base);
    if (thumb) q.set('thumb', String(thumb));
    if (this.grant) q.set('grant', this.grant);
    return `${this.service}/api/file?${q.toString()}`;
  }

  /** Why the file at `url` does not load, in the service's words (an `<img>` cannot read an error
   * body): asked once per alias (its files all fail alike), or once per URL without one. */
  fileProblem(url: string, base: string | null): Promise<{ text: string; unreachable: boolean } | null> {
    const alias = /^<([^>]+)>/.exec(url)?.[1];
    const key = alias ? `problem:alias:${alias}` : `problem:${base ?? ''}|${url}`;
    const asked = this.cached(key, async () => {
      const q = new URLSearchParams({ url });
      if (base) q.set('base', base);
      try {
        await this.request(`/api/file?${q.toString()}`, { method: 'GET' }, 'low');
        return null; // it loads now: a hiccup, nothing to explain
      } catch (e) {
        const unreachable = e instanceof ServiceError && e.kind === 'unreachable';
        return { text: e instanceof Error ? e.message : String(e), unreachable };
      }
    });
    // only the service's own answer is kept; "down" and "fine" are asked again
    void asked.then((v) => (v === null || v.unreachable) && this.cache.delete(key));
    return asked;
  }

  /** Short-lived grant for image URLs, renewed before it expires. */
  grant = $state('');
  private grantTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  async refreshGrant(): Promise<void> {
    if (this.grantTimer !== null) clearTimeout(this.grantTimer);
    this.grantTimer = null;
    let next: FileGrant;
    try {
      next = await this.json<FileGrant>('/api/file/grant', { method: 'POST' });
    } catch (e) {
      if (!this.closed) this.grantTimer = setTimeout(() => void this.refreshGrant().catch(() => {}), 15_000);
      throw e;
    }
    if (this.closed) return;
    this.grant = next.grant;
    // Renew at half the lifetime: a tab asleep for a while still renews before images fail.
    const ms = Math.max(10_000, (next.ttl * 1000) / 2);
    this.grantTimer = setTimeout(() => void this.refreshGrant().catch(() => {}), ms);
  }

  /** Follows `GET /api/events` with the token in the header (see `sse.ts`). */
  followEvents(handlers: EventHandlers): void {
    this.events?.abort();
    this.events = followEvents(`${this.service}/api/events`, () => this.authHeaders(), handlers);
  }

  private events: AbortController | null = null;

  /** Stops the event stream and grant renewal (a new connection replaces this client). */
  close(): void {
    this.closed = true;
    this.events?.abort();
    this.worker?.terminate();
    if (this.grantTimer !== null) clearTimeout(this.grantTimer);
  }

  private authHeaders(): Headers {
    const headers = new Headers();
    if (this.token) headers.set('Authorization', `Bearer ${this.token}`);
    return headers;
  }

  /**
   * Background requests (counts, summaries, matrices) wait while rows are loading: on two
   * cores the service answers the grid and the scatter first, and they draw sooner.
   */
  private foreground = 0;
  private idleWaiters: (() => void)[] = [];

  private whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      setTimeout(() => {
        if (this.foreground === 0) resolve();
        else {
          const timer = setTimeout(resolve, 1500); // never starve
          this.idleWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        }
      }, 0);
    });
  }

  private async request(path: string, init: RequestInit = {}, priority: 'high' | 'low' = 'high'): Promise<Response> {
    // The token travels in the header only, never in a URL (logs, history, proxies keep
    // URLs). CORS preflights cost one round trip per URL; the service lets browsers cache them.
    const headers = new Headers(init.headers);
    const url = `${this.service}${path}`;
    if (init.body) headers.set('Content-Type', 'application/json');
    if (this.token) headers.set('Authorization', `Bearer ${this.token}`);
    if (priority === 'low') await this.whenIdle();
    else this.foreground += 1;
    // Requests start inside effects; the counter must not become one of their dependencies.
    untrack(() => (this.inflight += 1));
    this.stats.requests += 1;
    let response: Response;
    try {
      response = await fetch(url, { ...init, headers });
    } catch (e) {
      if (init.signal?.aborted) throw new ServiceError('aborted', 'aborted');
      throw new ServiceError(
        'unreachable',
        `No service reachable at ${this.service}: start it with \`tercet service\` (or \`tercet ui\`), then retry.`,
      );
    } finally {
      untrack(() => (this.inflight -= 1));
      if (priority === 'high') {
        this.foreground -= 1;
        if (this.foreground === 0) for (const w of this.idleWaiters.splice(0)) w();
      }
    }
    if (!response.ok) throw await this.errorFrom(response);
    return response;
  }

  private async errorFrom(response: Response): Promise<ServiceError> {
    let detail = '';
    try {
      const body: unknown = await response.json();
      const d = (body as { detail?: unknown }).detail;
      detail = typeof d === 'string' ? d : d === undefined ? '' : JSON.stringify(d);
    } catch {
      detail = response.statusText;
    }
    const s = response.status;
    if (s === 401 || (s === 403 && /token/i.test(detail))) {
      return new ServiceError(
        'unauthorized',
        `Token rejected by ${this.service}: open the URL printed by \`tercet ui\` (or paste the token below).`,
        s,
      );
    }
    if (s === 404) return new ServiceError('not_found', detail || 'Not found.', s);
    if (s === 422 || s === 400 || s === 409 || s === 403) {
      return new ServiceError('invalid', detail || `Request rejected (${s}).`, s);
    }
    return new ServiceError('server', `The service failed (${s}): ${detail || response.statusText}`, s);
  }

  private async json<T>(path: string, init: RequestInit = {}, priority: 'high' | 'low' = 'high'): Promise<T> {
    const response = await this.request(path, init, priority);
    const text = await response.text();
    this.stats.bytes += text.length;
    return JSON.parse(text) as T;
  }

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.cache.get(key);
    if (hit) return hit as Promise<T>;
    const p = load();
    this.cache.set(key, p);
    p.catch(() => this.cache.delete(key));
    if (this.cache.size > 500) {
      const first = this.cache.keys().next().value;
      if (first !== undefined) this.cache.delete(first);
    }
    return p;
  }

  private post<T>(path: string, body: unknown, signal?: AbortSignal, priority: 'high' | 'low' = 'high'): Promise<T> {
    return this.json<T>(path, { method: 'POST', body: JSON.stringify(body), signal }, priority);
  }

  health(): Promise<Health> {
    return this.json<Health>('/api/health');
  }

  projects(): Promise<ProjectInfo[]> {
    return this.cached('nav:projects', () => this.json<ProjectInfo[]>('/api/projects'));
  }

  tables(project: string): Promise<TableRevision[]> {
    return this.cached(`nav:tables:${project}`, () =>
      this.json<TableRevision[]>(`/api/projects/${encodeURIComponent(project)}/tables`),
    );
  }

  runs(project: string): Promise<RunInfo[]> {
    return this.cached(`nav:runs:${project}`, () =>
      this.json<RunInfo[]>(`/api/projects/${encodeURIComponent(project)}/runs`),
    );
  }

  /** What a revision changed against its parent (revisions never change: cached for good). */
  revisionChanges(url: string): Promise<RevisionChanges> {
    return this.cached(`obj:changes:${url}`, () => this.json<RevisionChanges>(`/api/revisions/changes?table=${encodeURIComponent(url)}`));
  }

  object<T = Record<string, unknown>>(url: string): Promise<T> {
    return this.cached(`obj:${url}`, () => this.json<T>(`/api/object?url=${encodeURIComponent(url)}`));
  }

  schema(source: Source): Promise<SchemaInfo> {
    const body = { source };
    return this.cached(`data:schema:${JSON.stringify(body)}`, () => this.post<SchemaInfo>('/api/schema', body));
  }

  count(source: Source, filter: Filter | null, signal?: AbortSignal): Promise<CountResult> {
    const body = { source, filter };
    return this.cached(`data:count:${JSON.stringify(source)}:${filterCacheKey(filter)}`, () =>
      this.post<CountResult>('/api/count', body, signal, 'low'),
    );
  }

  /** The filtered rows binned over a viewport of x, y (`docs/api.md`); cached like other answers. */
  density(req: DensityRequest, signal?: AbortSignal): Promise<DensityResult> {
    return this.cached(`data:density:${JSON.stringify(req)}`, () => this.post<DensityResult>('/api/density', req, signal));
  }

  summary(source: Source, filter: Filter | null, column: string, bins = 40, range?: [number, number] /* shared bins */): Promise<Summary> {
    const body = range ? { source, filter, column, bins, min: range[0], max: range[1] } : { source, filter, column, bins };
    return this.cached(`data:summary:${JSON.stringify(body)}`, () => this.post<Summary>('/api/summary', body, undefined, 'low'));
  }

  confusion(run: string, split: string, epoch: number, join: Join, filter: Filter | null): Promise<ConfusionResult> {
    const body = { run, split, epoch, join, filter };
    return this.cached(`data:confusion:${JSON.stringify(body)}`, () =>
      this.post<ConfusionResult>('/api/confusion', body, undefined, 'low'),
    );
  }

  trajectory(run: string, split: string, exampleId: number, columns: string[]): Promise<TrajectoryResult> {
    const body = { run, split, example_id: exampleId, columns };
    return this.cached(`data:trajectory:${JSON.stringify(body)}`, () =>
      this.post<TrajectoryResult>('/api/trajectory', body),
    );
  }

  scalars(run: string): Promise<ScalarsResult> {
    return this.cached(`data:scalars:${run}`, () =>
      this.json<ScalarsResult>(`/api/scalars?run=${encodeURIComponent(run)}`),
    );
  }

  /** What the newest insights of a run's split found (`docs/insights.md`); 404 when none. */
  insightsSummary(run: string, split: string): Promise<InsightsSummary> {
    const q = new URLSearchParams({ run, split });
    return this.cached(`nav:insights:${q.toString()}`, () => this.json<InsightsSummary>(`/api/insights/summary?${q.toString()}`));
  }

  /** The samples whose embeddings are nearest to one sample's. */
  similar(req: SimilarRequest, signal?: AbortSignal): Promise<SimilarResult> {
    return this.post<SimilarResult>('/api/similar', req, signal);
  }

  async rows(req: RowsRequest, signal?: AbortSignal): Promise<RowsResult> {
    const response = await this.request('/api/rows', {
      method: 'POST',
      body: JSON.stringify(req),
      signal,
    });
    const buffer = await response.arrayBuffer();
    this.stats.bytes += buffer.byteLength;
    const table = tableFromIPC(new Uint8Array(buffer));
    return {
      table,
      total: Number(response.headers.get('X-Total-Count') ?? table.numRows),
      offset: Number(response.headers.get('X-Offset') ?? req.offset),
      bytes: buffer.byteLength,
    };
  }

  /**
   * A scatter's points (`POST /api/rows`), fetched, decoded and made into typed arrays by a worker
   * (points.worker.ts), with the same counters, priority and errors as `request`. null when
   * workers cannot run here: the caller reads the rows itself then.
   */
  async pointRows(req: RowsRequest, cols: PointColumns): Promise<{ points: PointArrays; bytes: number; received?: number } | null> {
    const worker = this.pointsWorker();
    if (!worker) return null;
    const id = ++this.asked;
    this.foreground += 1;
    untrack(() => (this.inflight += 1));
    this.stats.requests += 1;
    let answer: PointsAnswer;
    try {
      answer = await new Promise<PointsAnswer>((resolve) => {
        this.waiting.set(id, resolve);
        const ask: PointsAsk = { id, url: `${this.service}/api/rows`, token: this.token, body: JSON.stringify(req), cols };
        worker.postMessage(ask);
      });
    } finally {
      this.waiting.delete(id);
      untrack(() => (this.inflight -= 1));
      this.foreground -= 1;
      if (this.foreground === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
    if (!answer.ok) {
      if (answer.status === -1) return null; // the worker died: the caller reads the rows itself
      if (answer.status === 0) {
        throw new ServiceError('unreachable', `No service reachable at ${this.service}: start it with \`tercet service\` (or \`tercet ui\`), then retry.`);
      }
      throw await this.errorFrom(new Response(answer.body, { status: answer.status }));
    }
    this.stats.bytes += answer.bytes;
    return { points: answer.points, bytes: answer.bytes, received: answer.received };
  }

  private worker: Worker | null | undefined;
  private asked = 0;
  private waiting = new Map<number, (a: PointsAnswer) => void>();

  private pointsWorker(): Worker | null {
    if (this.worker !== undefined) return this.worker;
    try {
      this.worker = new Worker(new URL('./points.worker.ts', import.meta.url), { type: 'module' });
      this.worker.onmessage = (e: MessageEvent<PointsAnswer>) => this.waiting.get(e.data.id)?.(e.data);
      this.worker.onerror = () => {
        // the worker could not start (or died): its askers read the rows themselves instead
        for (const [id, resolve] of this.waiting) resolve({ id, ok: false, status: -1, body: '' });
        this.worker = null;
      };
    } catch {
      this.worker = null;
    }
    return this.worker;
  }

  async commit(req: RevisionRequest): Promise<RevisionCreated> {
    const created = await this.post<RevisionCreated>('/api/revisions', req);
    this.invalidate('nav:');
    return created;
  }
}

/** Turns an Arrow cell into a plain JS value (bigint → number, vectors → arrays). */
export function plainValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') {
    const o = v as { toArray?: () => unknown; toJSON?: () => unknown };
    if (typeof o.toJSON === 'function') return normalise(o.toJSON());
    if (typeof o.toArray === 'function') return normalise(Array.from(o.toArray() as ArrayLike<unknown>));
  }
  return v;
}

function normalise(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map((x) => plainValue(x));
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, Number);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plainValue(x);
    return out;
  }
  return v;
}

/** Numeric columns as float64 (re-exported: readers import it with the client). */
export { numericColumn } from './arrow';

export function isNumeric(c: ColumnInfo): boolean {
  return c.type === 'int' || c.type === 'float';
}

export function isCategorical(c: ColumnInfo): boolean {
  return c.role === 'label' || c.role === 'prediction' || c.type === 'bool' || Boolean(c.value_map);
}
