// A view's pending edits against its base revision, the commit that turns them into a new
// revision, and the two dialogs about them. The log itself (undo, localStorage) is edit-log.ts.
import { untrack } from 'svelte';
import { ServiceError, type ServiceClient } from '../../api/client.svelte';
import type { Row } from '../../api/pager';
import type { AppState } from '../app.svelte';
import { EditLog, parseValue, type Cell, type PendingEntry } from './edit-log';
import type { OpenState } from './open.svelte';
import type { SchemaState } from './schema.svelte';

export class EditState {
  /** The log is mutated in place; `version` makes reading it reactive. */
  private log = $state.raw<EditLog>(new EditLog('about:blank'));
  version = $state(0);
  committing = $state(false);
  commitError = $state<string | null>(null);
  commitOpen = $state(false);
  pendingOpen = $state(false);

  /** Recently seen rows by example id: originals for the pending-edit list. */
  private seen = new Map<number, Row>();

  constructor(
    private readonly app: AppState,
    private readonly client: ServiceClient,
    private readonly open: OpenState,
    private readonly schema: SchemaState,
  ) {}

  start(): void {
    $effect(() => {
      const base = this.open.baseRevision;
      if (base) untrack(() => this.bind(base));
    });
  }

  private bind(base: string): void {
    if (this.log.base === base) return;
    this.log = new EditLog(base);
    this.version += 1;
    if (this.log.count > 0) {
      this.app.toast('info', `Restored ${this.log.count} pending edit(s) saved in this browser for this revision.`);
    }
  }

  private read<T>(f: (log: EditLog) => T): T {
    void this.version;
    return f(this.log);
  }

  get count(): number {
    return this.read((l) => l.count);
  }
  get canUndo(): boolean {
    return this.read((l) => l.canUndo);
  }
  get canRedo(): boolean {
    return this.read((l) => l.canRedo);
  }
  get unsaved(): boolean {
    return this.read((l) => l.unsaved);
  }
  entries(limit: number): PendingEntry[] {
    return this.read((l) => l.entries(limit));
  }
  value(column: string, id: number): ReturnType<EditLog['value']> {
    return this.read((l) => l.value(column, id));
  }
  isDeleted(id: number): boolean {
    return this.read((l) => l.isDeleted(id));
  }
  /** Pending values of `column` by example id: charts draw them as they will be after the commit. */
  pendingOf(column: string): ReadonlyMap<number, Cell> {
    return this.read((l) => l.pendingOf(column));
  }
  /** The value of `column` for `id` as it will be: the pending one, else the last one seen. */
  currentValue(column: string, id: number): unknown {
    const p = this.value(column, id);
    if (p.pending) return p.value;
    return this.seen.get(id)?.[column];
  }

  remember(rows: Row[]): void {
    for (const r of rows) this.seen.set(r.example_id, r);
    if (this.seen.size > 20000) {
      const drop = this.seen.size - 15000;
      let i = 0;
      for (const k of this.seen.keys()) {
        if (i++ >= drop) break;
        this.seen.delete(k);
      }
    }
  }

  private originals(column: string, ids: number[]): Map<number, unknown> {
    const m = new Map<number, unknown>();
    for (const id of ids) {
      const r = this.seen.get(id);
      if (r && column in r) m.set(id, r[column]);
    }
    return m;
  }

  private changed(): void {
    this.version += 1;
    this.commitError = null;
  }

  /** Validates `raw` for `column` and records it for `ids`; says why when it cannot. */
  setValue(column: string, ids: number[], raw: string): boolean {
    const col = this.schema.column(column);
    if (!col) {
      this.app.toast('error', `Column ${column} is not in this view.`);
      return false;
    }
    if (!this.schema.editable.has(column)) {
      this.app.toast('error', `Column ${column} is not a column of table revision ${this.open.baseRevision ?? ''}: metric columns cannot be edited.`);
      return false;
    }
    if (ids.length === 0) {
      this.app.toast('warning', 'Select one or more rows first (click, ctrl-click, shift-click, or ctrl+A).');
      return false;
    }
    const parsed = parseValue(col, raw);
    if (!parsed.ok) {
      this.app.toast('error', parsed.message);
      return false;
    }
    this.log.set(column, ids, parsed.value, this.originals(column, ids));
    this.changed();
    return true;
  }

  /** Records an already valid value (a label key from the palette, a prediction, a weight). */
  setParsed(column: string, ids: number[], value: Cell): void {
    if (ids.length === 0 || !this.schema.editable.has(column)) return;
    this.log.set(column, ids, value, this.originals(column, ids));
    this.changed();
  }

  deleteRows(ids: number[]): void {
    if (ids.length === 0) return;
    this.log.delete(ids);
    this.changed();
  }

  restoreRows(ids: number[]): void {
    this.log.restore(ids);
    this.changed();
  }

  /** Drops one entry of the pending list. */
  drop(entry: PendingEntry): void {
    this.log.drop(entry);
    this.version += 1;
  }

  undo(): void {
    if (this.log.undo()) this.changed();
  }

  redo(): void {
    if (this.log.redo()) this.changed();
  }

  discard(): void {
    this.log.discard();
    this.changed();
  }

  /** POSTs the pending edits as a new revision; on any failure every edit stays pending. */
  async commit(message: string): Promise<boolean> {
    const base = this.open.baseRevision;
    if (!base || this.log.count === 0 || this.committing) return false;
    this.committing = true;
    this.commitError = null;
    const n = this.log.count;
    try {
      const created = await this.client.commit({ base, message: message || `${n} edit(s) from the dashboard`, edits: this.log.payload() });
      this.log.discard();
      this.changed();
      this.client.invalidate('data:');
      this.client.invalidate('nav:');
      this.commitOpen = false;
      this.pendingOpen = false;
      const warn = created.base_had_children ? ' The base revision already had children: this commit starts a new branch.' : '';
      this.app.toast(created.base_had_children ? 'warning' : 'success', `Committed ${n} edit(s) as revision ${created.name}.${warn}`);
      await this.open.followCommit(created);
      return true;
    } catch (e) {
      const why = e instanceof ServiceError ? e.message : String(e);
      this.commitError = `${why} — your ${n} pending edit(s) are kept.`;
      this.app.toast('error', 'Commit failed; nothing was lost.', this.commitError);
      return false;
    } finally {
      this.committing = false;
    }
  }
}
