// Application-wide state for one page: the connection, the route (mirrored in the URL hash),
// the theme, toasts, and the live event stream. Provided to components through context.
import { getContext, setContext } from 'svelte';
import { ServiceClient, ServiceError } from '../api/client.svelte';
import {
  DEFAULT_SERVICE,
  hashHasConnection,
  saveConnection,
  serviceOrigin,
  takeConnection,
  type Connection,
} from '../api/connection';
import type { IndexEvent, Join } from '../api/types';
import { refetchAll } from '../lib/refetch.svelte';
import { prefetchPoints } from './view/points';
import { SettingsState } from './view/settings.svelte';

export type ChartKind = 'scatter2d' | 'scatter3d' | 'histogram' | 'curves' | 'trajectory' | 'image' | 'confusion' | 'issues';

export interface Route {
  project: string | null;
  table: string | null;
  run: string | null;
  split: string | null;
  epoch: number | null;
  join: Join;
  chart: ChartKind | null;
  filters: string | null;
  /** How the open view is shown (axes, colour, size, sorts, mode, projection, lasso): the view
   * store reads and writes these; the route only carries them. */
  options: Record<string, string>;
}

export interface Toast {
  id: number;
  kind: 'info' | 'success' | 'error' | 'warning';
  text: string;
  detail?: string;
}

export type ConnState =
  | { state: 'connecting' }
  | { state: 'ok'; version: string }
  | { state: 'error'; kind: string; message: string };

const ROUTE_KEYS = new Set(['project', 'table', 'run', 'split', 'epoch', 'join', 'chart', 'f', 'service', 'token']);

const CHARTS: ChartKind[] = ['scatter2d', 'scatter3d', 'histogram', 'curves', 'trajectory', 'image', 'confusion', 'issues'];

export function parseRoute(hash: string): Route {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const epoch = q.get('epoch');
  const chart = q.get('chart') as ChartKind | null;
  return {
    project: q.get('project'),
    table: q.get('table'),
    run: q.get('run'),
    split: q.get('split'),
    epoch: epoch === null || epoch === '' ? null : Number(epoch),
    join: q.get('join') === 'latest' ? 'latest' : 'collected',
    chart: chart && CHARTS.includes(chart) ? chart : null,
    filters: q.get('f'),
    options: Object.fromEntries([...q].filter(([k]) => !ROUTE_KEYS.has(k))),
  };
}

export function routeHash(r: Partial<Route>): string {
  const q = new URLSearchParams();
  if (r.project) q.set('project', r.project);
  if (r.table) q.set('table', r.table);
  if (r.run) q.set('run', r.run);
  if (r.run && r.split) q.set('split', r.split);
  if (r.run && r.epoch !== null && r.epoch !== undefined) q.set('epoch', String(r.epoch));
  if (r.run && r.join) q.set('join', r.join);
  if (r.chart) q.set('chart', r.chart);
  if (r.filters) q.set('f', r.filters);
  for (const [k, v] of Object.entries(r.options ?? {})) if (!ROUTE_KEYS.has(k)) q.set(k, v);
  const s = q.toString();
  return s ? `#${s}` : '#';
}

export class AppState {
  connection = $state<Connection>({ service: '', token: '' });
  client = $state.raw<ServiceClient>(new ServiceClient('', ''));
  conn = $state<ConnState>({ state: 'connecting' });
  route = $state<Route>(parseRoute(''));
  theme = $state<'dark' | 'light'>('dark');
  toasts = $state<Toast[]>([]);
  live = $state(false);
  /** Bumped on every index event of a project; views refetch what depends on it. */
  eventCounter = $state(0);
  lastEvent = $state.raw<IndexEvent | null>(null);
  cheatSheet = $state(false);
  /** Service origins this page may talk to (its Content-Security-Policy), from the server that
   * served it; null when it does not say (the Vite dev server). */
  allowedServices: string[] | null = null;
  private toastId = 0;
  private firstAsked: () => void = () => {};
  /** Settles once the page in the URL has asked what it draws first (a table view: its schema,
   * then its points), or cannot: main.ts mounts the page after that, so those requests travel
   * while the page mounts instead of waiting for it (an answer in meanwhile waits for the main
   * thread, ~0.3 s of mounting). */
  readonly firstAsks = new Promise<void>((resolve) => (this.firstAsked = resolve));

  constructor() {
    const saved = localStorage.getItem('tercet.theme');
    this.theme = saved === 'light' || saved === 'dark' ? saved : window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
    this.applyTheme();
    this.route = parseRoute(location.hash);
    window.addEventListener('hashchange', () => {
      // A link to another service (pasted into this tab) is a new connection: it gets that
      // service's own token, never the one this tab holds for the current service.
      if (hashHasConnection(location.hash)) {
        this.connection = takeConnection(this.defaultService());
        void this.connect();
      }
      this.route = parseRoute(location.hash);
    });
  }

  /** Learns which services this page may talk to, takes the connection, connects. */
  async start(): Promise<void> {
    try {
      const response = await fetch('./tercet-dashboard.json', { cache: 'no-store' });
      const info = (await response.json()) as { services?: unknown };
      if (Array.isArray(info.services)) this.allowedServices = info.services.filter((s): s is string => typeof s === 'string');
    } catch {
      this.allowedServices = null;
    }
    this.connection = takeConnection(this.defaultService());
    this.route = parseRoute(location.hash);
    try {
      await this.connect();
    } finally {
      this.firstAsked();
    }
  }

  private defaultService(): string {
    return this.allowedServices?.find((s) => !s.endsWith(':*')) ?? DEFAULT_SERVICE;
  }

  private allows(origin: string): boolean {
    if (this.allowedServices === null) return true;
    return this.allowedServices.some((a) =>
      a.endsWith(':*') ? origin.startsWith(a.slice(0, -1)) && /^\d+$/.test(origin.slice(a.length - 1)) : (serviceOrigin(a) ?? a) === origin,
    );
  }

  async connect(next?: Connection): Promise<void> {
    if (next) this.connection = saveConnection(next);
    const { service, token } = this.connection;
    this.client.close();
    this.live = false;
    this.client = new ServiceClient(service, token);
    this.conn = { state: 'connecting' };
    const origin = serviceOrigin(service);
    if (origin === null) {
      this.conn = {
        state: 'error',
        kind: 'invalid',
        message: `Not an Object Service URL: ${service}. Give scheme, host and port, like ${DEFAULT_SERVICE}.`,
      };
      return;
    }
    if (!this.allows(origin)) {
      this.conn = {
        state: 'error',
        kind: 'not_allowed',
        message: `This dashboard may only talk to ${(this.allowedServices ?? []).join(', ')}. To use ${service}, start a dashboard for it: \`tercet dashboard --service ${service}\` (or \`tercet ui\`).`,
      };
      return;
    }
    if (!token) {
      this.conn = {
        state: 'error',
        kind: 'needs_token',
        message: `Enter the token of ${service}: \`tercet service\` and \`tercet ui\` print it, in a URL that carries it.`,
      };
      return;
    }
    const client = this.client;
    this.prefetch(client);
    try {
      // /api/health needs no token: check the token with a call that does, at the same time.
      const [health] = await Promise.all([client.health(), client.projects(), client.refreshGrant()]);
      if (client !== this.client) return; // another connection replaced this one meanwhile
      this.conn = { state: 'ok', version: health.version };
      this.subscribe();
    } catch (e) {
      if (client !== this.client) return;
      const err = e instanceof ServiceError ? e : new ServiceError('unreachable', String(e));
      this.conn = { state: 'error', kind: err.kind, message: err.message };
    }
  }

  /**
   * What the page in the URL asks first goes out beside the health check instead of after it:
   * the project's revisions and runs, and a table view's schema. The view then finds them in the
   * client's cache, one round trip sooner; a failure is the view's to report when it asks again.
   */
  private prefetch(client: ServiceClient): void {
    const { project, run, table } = this.route;
    if (!project) return this.firstAsked();
    void client.tables(project).catch(() => {});
    if (run) void client.runs(project).catch(() => {});
    if (!table) return this.firstAsked();
    // A table view's first points need only its schema and the URL: asked the moment the schema
    // is in, while the bundle still mounts the view (the view's own ask then finds them).
    const route = this.route;
    void client
      .schema({ table })
      .then((info) => {
        const cols = new SettingsState({ columns: info.columns }, 'table', route).firstPoints(info);
        if (cols) prefetchPoints(client, { table }, cols, info.columns);
      })
      .catch(() => {})
      .finally(() => this.firstAsked());
  }

  private subscribe(): void {
    let dropped = false;
    const client = this.client;
    this.client.followEvents({
      open: () => {
        this.live = true;
        if (!dropped) return;
        // Back after a drop (the service may have restarted): nothing cached can be trusted,
        // the image grant may be void, and every visible resource loads again.
        dropped = false;
        client.invalidate();
        void client.refreshGrant().catch(() => {});
        this.eventCounter += 1;
        refetchAll();
      },
      error: () => {
        this.live = false;
        dropped = true;
      },
      index: (text) => {
        try {
          this.lastEvent = JSON.parse(text) as IndexEvent;
        } catch {
          this.lastEvent = null;
        }
        this.client.invalidate('nav:');
        this.eventCounter += 1;
      },
    });
  }

  navigate(r: Partial<Route>, replace = false): void {
    const hash = routeHash(r);
    if (replace) {
      history.replaceState(null, '', hash);
      this.route = parseRoute(hash);
    } else if (location.hash !== hash) {
      location.hash = hash;
    }
  }

  /** Keeps the hash in step with the open view without adding history entries. */
  reflect(r: Partial<Route>): void {
    const hash = routeHash(r);
    if (location.hash === hash) return;
    history.replaceState(null, '', hash);
    this.route = parseRoute(hash);
  }

  toggleTheme(): void {
    this.theme = this.theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem('tercet.theme', this.theme);
    this.applyTheme();
  }

  private applyTheme(): void {
    document.documentElement.dataset.theme = this.theme;
  }

  toast(kind: Toast['kind'], text: string, detail?: string, ms = kind === 'error' ? 12000 : 4000): void {
    const id = ++this.toastId;
    // the newest few: a burst of edits must not wall off the page
    this.toasts = [...this.toasts, { id, kind, text, detail }].slice(-3);
    if (ms > 0) setTimeout(() => this.dismiss(id), ms);
  }

  private told = new Set<string>();

  /** A toast shown once per `key` in this page's life (one per unset alias, not one per image). */
  toastOnce(key: string, kind: Toast['kind'], text: string, detail?: string): void {
    if (this.told.has(key)) return;
    this.told.add(key);
    this.toast(kind, text, detail, 20000);
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }

  destroy(): void {
    this.client.close();
  }
}

const KEY = Symbol('app');

export function provideApp(app: AppState): void {
  setContext(KEY, app);
}

export function useApp(): AppState {
  return getContext<AppState>(KEY);
}
