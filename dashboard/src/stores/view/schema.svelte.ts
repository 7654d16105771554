// The columns of what a view has open, and of the table revision its edits go to (whose columns
// are the editable ones; in a run view every other column is a metric).
import { isNumeric, type ServiceClient } from '../../api/client.svelte';
import type { ColumnInfo, SchemaInfo } from '../../api/types';
import { Resource } from '../../lib/resource.svelte';
import { isEditable } from './edit-log';
import type { OpenState } from './open.svelte';

export class SchemaState {
  readonly current = new Resource<SchemaInfo>({ onResult: (s) => this.onLoad(s) });
  readonly base = new Resource<SchemaInfo>();

  info = $derived(this.current.result);
  columns = $derived<ColumnInfo[]>(this.info?.columns ?? []);
  labelColumn = $derived(this.columns.find((c) => c.role === 'label') ?? null);
  predictionColumn = $derived(this.columns.find((c) => c.role === 'prediction') ?? null);
  imageColumn = $derived(this.columns.find((c) => c.role === 'image') ?? null);
  editable = $derived<Set<string>>(this.base.error ? new Set() : new Set((this.base.result?.columns ?? []).filter(isEditable).map((c) => c.name)));
  /** Columns of the table revision (the rest of a run view's columns are metrics). */
  tableColumns = $derived<Set<string>>(new Set((this.base.result?.columns ?? []).map((c) => c.name)));

  constructor(
    private readonly client: ServiceClient,
    private readonly open: OpenState,
    private readonly onLoad: (schema: SchemaInfo) => void,
  ) {}

  get error(): string | null {
    return this.current.error;
  }

  start(): void {
    this.current.follow(() => {
      const src = this.open.source;
      return src ? () => this.client.schema(src) : null;
    });
    this.base.follow(() => {
      const base = this.open.baseRevision;
      return base ? () => this.client.schema({ table: base }) : null;
    });
  }

  column(name: string): ColumnInfo | undefined {
    return this.columns.find((c) => c.name === name);
  }

  numeric(): ColumnInfo[] {
    return this.columns.filter((c) => isNumeric(c) && c.role !== 'id');
  }
}
