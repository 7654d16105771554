// Relabelling where the person looks (gallery, inspector, scatter): a label from the palette or
// its number key, the model's prediction accepted as the label (`a`), weight 0 toggled (`w`), and
// the one-click "prediction ≠ label" filter. Every action is a pending edit with undo.
import { numericColumn, plainValue, type ServiceClient } from '../../api/client.svelte';
import { labelName } from '../../api/filters';
import type { ColumnInfo } from '../../api/types';
import { count, errorMessage } from '../../lib/format';
import { categoryColor } from '../../render/colors';
import type { AppState } from '../app.svelte';
import type { EditState } from './edits.svelte';
import type { FilterState } from './filters.svelte';
import type { OpenState } from './open.svelte';
import type { SchemaState } from './schema.svelte';
import type { SelectionState } from './selection.svelte';

export interface PaletteEntry {
  /** The number key that sets it ('1'…'9', '0'), or '' past ten labels. */
  key: string;
  value: number | string;
  name: string;
  color: string;
}

export class RelabelActions {
  constructor(
    private readonly app: AppState,
    private readonly client: ServiceClient,
    private readonly open: OpenState,
    private readonly schema: SchemaState,
    private readonly filters: FilterState,
    private readonly selection: SelectionState,
    private readonly edits: EditState,
  ) {}

  /** The editable label column, if this view has one. */
  get label(): ColumnInfo | null {
    const c = this.schema.labelColumn;
    return c && this.schema.editable.has(c.name) ? c : null;
  }

  get weight(): ColumnInfo | null {
    return this.schema.columns.find((c) => c.role === 'weight' && this.schema.editable.has(c.name)) ?? null;
  }

  /** The labels in value order. Labels 0…9 take their own digit; otherwise the first ten take
   * 1…9 then 0, as a keyboard reads them. */
  palette = $derived.by<PaletteEntry[]>(() => {
    const col = this.label;
    if (!col?.value_map) return [];
    const keys = Object.keys(col.value_map).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
    const ownDigits = keys.length <= 10 && keys.every((k) => /^\d$/.test(k));
    return keys.map((k, i) => {
      const value = col.type === 'int' ? Number(k) : k;
      return { key: ownDigits ? k : i < 9 ? String(i + 1) : i === 9 ? '0' : '', value, name: labelName(col, value), color: categoryColor(col, value, 0) };
    });
  });

  /** Sets the label of the selected samples (or of `ids`: the inspector's sample); says what happened. */
  setLabel(value: number | string, ids: number[] = [...this.selection.ids]): void {
    const col = this.label;
    if (!col) return this.app.toast('error', 'This view has no editable label column.');
    if (ids.length === 0) return this.app.toast('warning', 'Select samples first (click, shift-click, ctrl-click).');
    this.edits.setParsed(col.name, ids, value);
    this.app.toast('success', `Label of ${count(ids.length)} sample(s) → ${labelName(col, value)} (pending; Ctrl+Z undoes).`);
  }

  byKey(key: string, ids: number[] = [...this.selection.ids]): boolean {
    const entry = this.palette.find((p) => p.key === key);
    if (!entry || ids.length === 0) return false;
    this.setLabel(entry.value, ids);
    return true;
  }

  /** The model's prediction becomes the label of each selected sample (its own prediction). */
  async acceptPredictions(ids: number[] = [...this.selection.ids]): Promise<void> {
    const col = this.label;
    const pred = this.schema.predictionColumn;
    const src = this.open.source;
    if (!col || !pred || !src) return this.app.toast('error', 'Accepting a prediction needs an editable label and a prediction column (a run view).');
    if (ids.length === 0) return this.app.toast('warning', 'Select samples first (click, shift-click, ctrl-click).');
    try {
      const res = await this.client.rows({ source: src, columns: ['example_id', pred.name], filter: { column: 'example_id', op: 'in', values: ids }, sort: [], offset: 0, limit: ids.length });
      const got = numericColumn(res.table, 'example_id');
      const values = res.table.getChild(pred.name);
      const groups = new Map<unknown, number[]>();
      got.forEach((id, i) => {
        const v = plainValue(values?.get(i));
        if (v === null || v === undefined) return;
        const g = groups.get(v);
        if (g) g.push(id);
        else groups.set(v, [id]);
      });
      for (const [v, group] of groups) this.edits.setParsed(col.name, group, v);
      const n = [...groups.values()].reduce((s, g) => s + g.length, 0);
      this.app.toast('success', `Accepted the prediction as label for ${count(n)} sample(s) (pending; Ctrl+Z undoes).`);
    } catch (e) {
      this.app.toast('error', `Could not read the predictions: ${errorMessage(e)}`);
    }
  }

  /** Weight 0 for the selected samples, or back to 1 when all of them are at 0 already. */
  toggleWeight(ids: number[] = [...this.selection.ids]): void {
    const col = this.weight;
    if (!col) return this.app.toast('error', 'This view has no editable weight column.');
    if (ids.length === 0) return this.app.toast('warning', 'Select samples first (click, shift-click, ctrl-click).');
    const allZero = ids.every((id) => this.edits.currentValue(col.name, id) === 0);
    this.edits.setParsed(col.name, ids, allZero ? 1 : 0);
    this.app.toast('success', `Weight of ${count(ids.length)} sample(s) → ${allZero ? 1 : 0} (pending; Ctrl+Z undoes).`);
  }

  get mismatchOn(): boolean {
    return this.filters.active.has('mismatch');
  }

  /** The one-click filter: rows whose prediction differs from their label. */
  toggleMismatch(): void {
    const label = this.schema.labelColumn;
    const pred = this.schema.predictionColumn;
    if (this.mismatchOn) return this.filters.remove('mismatch');
    if (!label || !pred) return this.app.toast('error', 'This view has no label and prediction columns to compare.');
    const values = Object.keys(label.value_map ?? pred.value_map ?? {}).map((k) => (label.type === 'int' ? Number(k) : k));
    if (values.length === 0) return this.app.toast('error', `Column ${label.name} has no value map: its labels cannot be listed.`);
    this.filters.put({ kind: 'mismatch', column: label.name, other: pred.name, values });
  }
}
