// The one grid cell being edited: which, what has been typed, and whether the store refused it.
import type { Row } from '../../api/pager';
import type { ColumnInfo } from '../../api/types';
import type { ViewStore } from '../../stores/view/view.svelte';

export class CellEditing {
  target = $state.raw<{ id: number; col: ColumnInfo } | null>(null);
  text = $state('');
  error = $state(false);

  constructor(private readonly view: ViewStore) {}

  get active(): boolean {
    return this.target !== null;
  }

  is(id: number, column: string): boolean {
    return this.target !== null && this.target.id === id && this.target.col.name === column;
  }

  start(row: Row, col: ColumnInfo): void {
    const { app, open, schema, edits } = this.view;
    if (!schema.editable.has(col.name)) {
      app.toast('info', `${col.name} is ${open.kind === 'run' ? 'a metric or read-only column' : 'read-only'}: only columns of the table revision can be edited.`);
      return;
    }
    const pending = edits.value(col.name, row.example_id);
    const v = pending.pending ? pending.value : row[col.name];
    this.text = col.value_map && v !== null && v !== undefined ? (col.value_map[String(v)]?.name ?? String(v)) : v === null || v === undefined ? '' : String(v);
    this.error = false;
    this.target = { id: row.example_id, col };
  }

  /** Records the typed value; false (and the editor stays open) when the store refuses it. */
  commit(): boolean {
    if (!this.target) return true;
    const ok = this.view.edits.setValue(this.target.col.name, [this.target.id], this.text);
    if (ok) this.target = null;
    else this.error = true;
    return ok;
  }

  cancel(): void {
    this.target = null;
  }
}
