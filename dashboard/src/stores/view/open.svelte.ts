// What a view has open: a table revision, or one split and epoch of a run joined with its input
// rows — the revision it was trained on, or that revision's latest. Which revision is latest is
// the service's answer (`TableRevision.latest`); nothing here works it out.
import type { ServiceClient } from '../../api/client.svelte';
import type { Join, RevisionCreated, RunInfo, Source, TableRevision } from '../../api/types';
import { normUrl } from '../../lib/format';
import { Resource } from '../../lib/resource.svelte';
import type { AppState, Route } from '../app.svelte';

type Navigation = [TableRevision[], RunInfo[]];

export class OpenState {
  readonly kind: 'table' | 'run';
  private readonly client: ServiceClient;

  tableUrl = $state<string | null>(null);
  runUrl = $state<string | null>(null);
  run = $state.raw<RunInfo | null>(null);
  runs = $state.raw<RunInfo[]>([]);
  tables = $state.raw<TableRevision[]>([]);
  split = $state<string>('train');
  epoch = $state<number | null>(null);
  join = $state<Join>('collected');
  projection = $state<string | null>(null);
  /** Runs whose curves are drawn together; this run until the user ticks others. */
  compared = $state.raw<string[]>([]);
  /** Bumped when the rows under an unchanged source changed (a commit); data caches key on it. */
  dataVersion = $state(0);
  /** Why the run cannot be shown (not in the project, no metrics yet). */
  private notice = $state<string | null>(null);

  readonly navigation = new Resource<Navigation>({ onResult: ([tables, runs]) => this.navigated(tables, runs) });

  source = $derived.by<Source | null>(() => {
    if (this.kind === 'table') return this.tableUrl ? { table: this.tableUrl } : null;
    // Waits for the run: its projection decides the columns, and a schema without them first
    // would be a second, different answer.
    if (!this.runUrl || this.epoch === null || !this.run) return null;
    return { run: this.runUrl, split: this.split, epoch: this.epoch, join: this.join, projection: this.projection };
  });

  /** The revision edits are made against (and the image base URL). */
  baseRevision = $derived.by<string | null>(() => {
    if (this.kind === 'table') return this.tableUrl;
    const stream = this.run?.streams.find((s) => s.split === this.split);
    const input = stream?.table ?? this.run?.inputs.find((i) => i.split === this.split)?.table ?? null;
    if (!input) return null;
    return this.join === 'latest' ? (this.revision(input)?.latest ?? input) : input;
  });

  epochs = $derived<number[]>(this.run?.streams.find((s) => s.split === this.split)?.epochs ?? []);
  splits = $derived<string[]>(this.run?.streams.map((s) => s.split) ?? []);

  constructor(
    private readonly app: AppState,
    route: Route,
  ) {
    this.client = app.client;
    this.kind = route.run ? 'run' : 'table';
    this.tableUrl = route.table;
    this.runUrl = route.run;
    if (route.split) this.split = route.split;
    this.epoch = route.epoch;
    this.join = route.join;
    if (route.options.proj) this.projection = route.options.proj;
  }

  get project(): string {
    return this.app.route.project ?? '';
  }

  get error(): string | null {
    return this.navigation.error ?? this.notice;
  }

  /** The project's revision at `url`, as the service last listed it. */
  revision(url: string): TableRevision | undefined {
    const u = normUrl(url);
    return this.tables.find((t) => normUrl(t.url) === u);
  }

  start(): void {
    this.navigation.follow(() => {
      void this.app.eventCounter;
      const project = this.project;
      const run = this.kind === 'run';
      return () => Promise.all([this.client.tables(project), run ? this.client.runs(project) : Promise.resolve([] as RunInfo[])]);
    });
  }

  private navigated(tables: TableRevision[], runs: RunInfo[]): void {
    this.tables = tables;
    if (this.kind !== 'run') return;
    this.runs = runs;
    const run = runs.find((r) => normUrl(r.url) === normUrl(this.runUrl ?? '')) ?? null;
    if (!run) {
      this.notice = `Run ${this.runUrl} is not in project ${this.project}: pick one from the project page.`;
      return;
    }
    this.run = run;
    if (this.compared.length === 0) this.compared = [run.url];
    if (!run.streams.some((s) => s.split === this.split) && run.streams.length) this.split = run.streams[0].split;
    const epochs = run.streams.find((s) => s.split === this.split)?.epochs ?? [];
    if (this.epoch === null || !epochs.includes(this.epoch)) {
      if (epochs.length) this.epoch = epochs[epochs.length - 1];
      else this.notice = `Run ${run.name} has no metrics for split "${this.split}" yet: they appear after its first collect_metrics().`;
    } else if (this.notice?.includes('no metrics')) this.notice = null;
    if (this.projection !== null && !run.projections.includes(this.projection)) this.projection = null;
    if (this.projection === null && run.projections.length) {
      this.projection = run.projections.find((p) => p.endsWith('3d')) ?? run.projections[0];
    }
  }

  /** The hash changed under the open view (back button, edited URL): follow it. */
  followRoute(r: Route): void {
    if (this.kind === 'table' && r.table && r.table !== this.tableUrl) this.tableUrl = r.table;
    if (this.kind === 'run') {
      if (r.split && r.split !== this.split) this.split = r.split;
      if (r.epoch !== null && r.epoch !== this.epoch) this.epoch = r.epoch;
      if (r.join !== this.join) this.join = r.join;
    }
  }

  /** Opens what a commit made: the new revision, or for a run its latest input rows. */
  async followCommit(created: RevisionCreated): Promise<void> {
    this.tables = await this.client.tables(this.project);
    if (this.kind === 'table') this.tableUrl = created.url;
    else this.join = 'latest';
    this.dataVersion += 1;
  }

  stepEpoch(d: number): void {
    const i = this.epochs.indexOf(this.epoch ?? -1);
    const next = this.epochs[Math.max(0, Math.min(this.epochs.length - 1, i + d))];
    if (next !== undefined) this.epoch = next;
  }
}
