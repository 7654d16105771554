// Pending edits against one base revision: cell values, weights and deletions, with undo/redo.
// Kept in localStorage under the base revision's URL so a reload (or a failed commit) loses
// nothing; cleared only after the service has confirmed a commit.
import type { ColumnInfo, EditsPayload } from '../../api/types';

export type Cell = unknown;

type Op =
  | { kind: 'set'; column: string; ids: number[]; values: Cell[]; before: (Cell | typeof NONE)[] }
  | { kind: 'delete'; ids: number[]; before: boolean[] }
  | { kind: 'restore'; ids: number[]; before: boolean[] };

const NONE = Symbol('none');
const STORAGE_PREFIX = 'tercet.pending.';
const MAX_HISTORY = 200;

export interface PendingEntry {
  kind: 'set' | 'delete';
  column: string;
  exampleId: number;
  value: unknown;
  original: unknown;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

/** Parses what a user typed into the value a column holds, or says why it cannot. */
export function parseValue(col: ColumnInfo, raw: string): Parsed {
  const text = raw.trim();
  if (col.role === 'weight') {
    const n = text === '' ? NaN : Number(text);
    if (!Number.isFinite(n) || n < 0) {
      return { ok: false, message: `Weight must be a number ≥ 0 (0 leaves the row out of training); got “${raw}”.` };
    }
    return { ok: true, value: n };
  }
  if (col.value_map && Object.keys(col.value_map).length > 0) {
    const entries = Object.entries(col.value_map);
    const byName = entries.find(([, e]) => e.name.toLowerCase() === text.toLowerCase());
    const byKey = entries.find(([k]) => k === text);
    const hit = byName ?? byKey;
    if (!hit) {
      const names = entries.slice(0, 12).map(([, e]) => e.name).join(', ');
      return {
        ok: false,
        message: `“${raw}” is not a label of column ${col.name}: use one of ${names}${entries.length > 12 ? ', …' : ''}.`,
      };
    }
    return { ok: true, value: Number(hit[0]) };
  }
  switch (col.type) {
    case 'int': {
      if (!/^[-+]?\d+$/.test(text)) return { ok: false, message: `Column ${col.name} holds whole numbers; got “${raw}”.` };
      return { ok: true, value: Number(text) };
    }
    case 'float': {
      const n = text === '' ? NaN : Number(text);
      if (!Number.isFinite(n)) return { ok: false, message: `Column ${col.name} holds numbers; got “${raw}”.` };
      return { ok: true, value: n };
    }
    case 'bool': {
      const t = text.toLowerCase();
      if (['true', '1', 'yes'].includes(t)) return { ok: true, value: true };
      if (['false', '0', 'no'].includes(t)) return { ok: true, value: false };
      return { ok: false, message: `Column ${col.name} holds true/false; got “${raw}”.` };
    }
    case 'string':
      return { ok: true, value: raw };
    default:
      return { ok: false, message: `Column ${col.name} (${col.type}) cannot be edited here.` };
  }
}

export function isEditable(col: ColumnInfo): boolean {
  if (col.role === 'id') return false;
  return ['int', 'float', 'string', 'bool'].includes(col.type);
}

export class EditLog {
  private cells = new Map<string, Map<number, Cell>>();
  private originals = new Map<string, Map<number, unknown>>();
  private deleted = new Set<number>();
  private undoStack: Op[] = [];
  private redoStack: Op[] = [];

  constructor(readonly base: string) {
    this.load();
  }

  get storageKey(): string {
    return STORAGE_PREFIX + this.base;
  }

  get count(): number {
    let n = this.deleted.size;
    for (const m of this.cells.values()) n += m.size;
    return n;
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  value(column: string, id: number): { pending: true; value: Cell } | { pending: false } {
    const m = this.cells.get(column);
    if (m && m.has(id)) return { pending: true, value: m.get(id) };
    return { pending: false };
  }

  isDeleted(id: number): boolean {
    return this.deleted.has(id);
  }

  /** Every pending value of `column`, by example id (read-only). */
  pendingOf(column: string): ReadonlyMap<number, Cell> {
    return this.cells.get(column) ?? new Map();
  }

  hasAnyFor(id: number): boolean {
    if (this.deleted.has(id)) return true;
    for (const m of this.cells.values()) if (m.has(id)) return true;
    return false;
  }

  set(column: string, ids: number[], value: Cell, originals?: Map<number, unknown>): void {
    if (ids.length === 0) return;
    const m = this.cells.get(column);
    const before = ids.map((id) => (m && m.has(id) ? m.get(id) : NONE));
    const op: Op = { kind: 'set', column, ids: [...ids], values: ids.map(() => value), before };
    if (originals) {
      let o = this.originals.get(column);
      if (!o) this.originals.set(column, (o = new Map()));
      for (const [id, v] of originals) if (!o.has(id)) o.set(id, v);
    }
    this.apply(op);
    this.push(op);
  }

  delete(ids: number[]): void {
    if (ids.length === 0) return;
    const op: Op = { kind: 'delete', ids: [...ids], before: ids.map((id) => this.deleted.has(id)) };
    this.apply(op);
    this.push(op);
  }

  restore(ids: number[]): void {
    const hit = ids.filter((id) => this.deleted.has(id));
    if (hit.length === 0) return;
    const op: Op = { kind: 'restore', ids: hit, before: hit.map(() => true) };
    this.apply(op);
    this.push(op);
  }

  /** Drops one pending entry (from the pending list). */
  drop(entry: PendingEntry): void {
    if (entry.kind === 'delete') this.restore([entry.exampleId]);
    else {
      const m = this.cells.get(entry.column);
      if (!m || !m.has(entry.exampleId)) return;
      const op: Op = {
        kind: 'set',
        column: entry.column,
        ids: [entry.exampleId],
        values: [NONE],
        before: [m.get(entry.exampleId)],
      };
      this.apply(op);
      this.push(op);
    }
  }

  undo(): boolean {
    const op = this.undoStack.pop();
    if (!op) return false;
    this.revert(op);
    this.redoStack.push(op);
    this.save();
    return true;
  }

  redo(): boolean {
    const op = this.redoStack.pop();
    if (!op) return false;
    this.apply(op);
    this.undoStack.push(op);
    this.save();
    return true;
  }

  discard(): void {
    this.cells.clear();
    this.deleted.clear();
    this.originals.clear();
    this.undoStack = [];
    this.redoStack = [];
    localStorage.removeItem(this.storageKey);
  }

  entries(limit = Infinity): PendingEntry[] {
    const out: PendingEntry[] = [];
    for (const id of this.deleted) {
      if (out.length >= limit) return out;
      out.push({ kind: 'delete', column: '', exampleId: id, value: null, original: undefined });
    }
    for (const [column, m] of this.cells) {
      const o = this.originals.get(column);
      for (const [id, value] of m) {
        if (out.length >= limit) return out;
        out.push({ kind: 'set', column, exampleId: id, value, original: o?.get(id) });
      }
    }
    return out;
  }

  /** The body of `POST /api/revisions`. Cell edits on rows being deleted are left out. */
  payload(weightColumn = 'weight'): EditsPayload {
    const out: EditsPayload = { set: [], delete: [...this.deleted], weights: [] };
    for (const [column, m] of this.cells) {
      for (const [id, value] of m) {
        if (this.deleted.has(id)) continue;
        if (column === weightColumn) out.weights.push({ example_id: id, weight: Number(value) });
        else out.set.push({ column, example_id: id, value });
      }
    }
    return out;
  }

  private push(op: Op): void {
    this.undoStack.push(op);
    if (this.undoStack.length > MAX_HISTORY) this.undoStack.shift();
    this.redoStack = [];
    this.save();
  }

  private apply(op: Op): void {
    if (op.kind === 'set') {
      let m = this.cells.get(op.column);
      if (!m) this.cells.set(op.column, (m = new Map()));
      op.ids.forEach((id, i) => {
        const v = op.values[i];
        if (v === NONE) m.delete(id);
        else m.set(id, v);
      });
      if (m.size === 0) this.cells.delete(op.column);
    } else if (op.kind === 'delete') {
      for (const id of op.ids) this.deleted.add(id);
    } else {
      for (const id of op.ids) this.deleted.delete(id);
    }
  }

  private revert(op: Op): void {
    if (op.kind === 'set') {
      let m = this.cells.get(op.column);
      if (!m) this.cells.set(op.column, (m = new Map()));
      op.ids.forEach((id, i) => {
        const b = op.before[i];
        if (b === NONE) m.delete(id);
        else m.set(id, b);
      });
      if (m.size === 0) this.cells.delete(op.column);
    } else {
      op.ids.forEach((id, i) => {
        if (op.before[i]) this.deleted.add(id);
        else this.deleted.delete(id);
      });
    }
  }

  private save(): void {
    if (this.count === 0) {
      localStorage.removeItem(this.storageKey);
      return;
    }
    const cells: Record<string, [number, unknown][]> = {};
    for (const [c, m] of this.cells) cells[c] = [...m.entries()];
    const originals: Record<string, [number, unknown][]> = {};
    for (const [c, m] of this.originals) originals[c] = [...m.entries()];
    const doc = { version: 1, base: this.base, saved: new Date().toISOString(), cells, originals, deleted: [...this.deleted] };
    try {
      localStorage.setItem(this.storageKey, JSON.stringify(doc));
    } catch {
      // Quota exceeded: the edits stay in memory; the pending list says they are not saved.
      this.unsaved = true;
      return;
    }
    this.unsaved = false;
  }

  unsaved = false;

  private load(): void {
    const text = localStorage.getItem(this.storageKey);
    if (!text) return;
    try {
      const doc = JSON.parse(text) as {
        cells?: Record<string, [number, unknown][]>;
        originals?: Record<string, [number, unknown][]>;
        deleted?: number[];
      };
      for (const [c, list] of Object.entries(doc.cells ?? {})) this.cells.set(c, new Map(list));
      for (const [c, list] of Object.entries(doc.originals ?? {})) this.originals.set(c, new Map(list));
      for (const id of doc.deleted ?? []) this.deleted.add(id);
    } catch {
      // A corrupt entry is kept for the user to inspect, not silently overwritten.
      localStorage.setItem(`${this.storageKey}.corrupt`, text);
    }
  }
}

/** Base revisions that have pending edits saved in this browser. */
export function basesWithPendingEdits(): string[] {
  const out: string[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && k.startsWith(STORAGE_PREFIX) && !k.endsWith('.corrupt')) out.push(k.slice(STORAGE_PREFIX.length));
  }
  return out;
}
