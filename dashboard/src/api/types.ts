// Wire types of the Object Service, generated from docs/openapi.json (`npm run gen:api` writes
// schema.d.ts; regenerate when the service's API changes). Only what the document cannot say —
// the server-sent events, and stricter shapes this client builds itself — is written here.
import type { components } from './schema';

type S = components['schemas'];

export type Health = S['Health'];
export type ProjectInfo = S['ProjectInfo'];
export type TableRevision = S['TableRevision'];
export type RunInfo = S['RunInfo'];
export type RunStatus = RunInfo['status'];
export type RunStream = S['RunStream'];
export type ColumnInfo = S['ColumnInfo'];
export type ColumnType = ColumnInfo['type'];
export type ValueMapEntry = S['ValueMapEntry'];
export type SchemaInfo = S['SchemaInfo'];
export type TableSource = S['TableSource'];
export type RunSource = S['RunSource'];
export type Join = RunSource['join'];
export type Source = TableSource | RunSource;
export type Filter = NonNullable<S['RowsRequest']['filter']>;
export type SortKey = S['SortKey'];
/** `compact` has a default (false): only the scatter's points ask for it. */
export type RowsRequest = Omit<S['RowsRequest'], 'compact'> & { compact?: boolean };
export type CountResult = S['CountResult'];
export type DensityRequest = S['DensityRequest'];
export type DensityResult = S['DensityResult'];
export type HistogramSummary = S['HistogramSummary'];
export type CategoryCount = S['CategoryCount'];
export type CategorySummary = S['CategorySummary'];
export type Summary = HistogramSummary | CategorySummary;
export type ConfusionResult = S['ConfusionResult'];
export type TrajectoryResult = S['TrajectoryResult'];
export type ScalarSeries = S['ScalarSeries'];
export type ScalarsResult = S['ScalarsResult'];
export type RevisionRequest = S['RevisionRequest'];
export type RevisionCreated = S['RevisionCreated'];
export type RevisionChanges = S['RevisionChanges'];
export type FileGrant = S['FileGrant'];
export type InsightsSummary = S['InsightsSummary'];
export type InsightIssue = S['InsightIssue'];
export type SimilarRequest = S['SimilarRequest'];
export type SimilarResult = S['SimilarResult'];

/** The edits this client sends: every list present (a subset of the service's `Edits`). */
export type EditsPayload = Required<Pick<S['Edits'], 'set' | 'delete' | 'weights'>>;

/** `event: index` of `GET /api/events` (server-sent events are outside the OpenAPI document). */
export interface IndexEvent {
  kind: 'run' | 'metrics' | 'revision' | 'status';
  project: string;
  url: string;
}

export function isRunSource(s: Source): s is RunSource {
  return 'run' in s;
}
