import type { ColumnType, Kysely } from 'kysely';
import type { Db } from '../store/db.js';
import type { Database } from '../store/tables.js';

/**
 * Kysely's view of the tables migrations 003 (reviews, alerts) and 004 (the reports' summary) add. Kept beside the
 * reports that read them; `reportsDb(db)` widens a store handle with them (no copy of the store's own table types).
 */
type Timestamp = ColumnType<Date | string, string, string>;
type Json = ColumnType<unknown, string, string>;

export interface InspectionReviewsTable {
  inspection_id: string;
  piece_id: string;
  model_versions: string;
  profile_version: string;
  disposition: string | null;
  rework: string | null;
  note: string | null;
  reviewer_key_id: string;
  decided_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface FindingReviewsTable {
  finding_id: string;
  inspection_id: string;
  decision: string;
  note: string | null;
  reviewer_key_id: string;
  reviewed_at: Timestamp;
}

export interface ReviewAddedFindingsTable {
  id: string;
  inspection_id: string;
  view_n: number;
  family: string;
  kind: string;
  bbox_x0: number;
  bbox_y0: number;
  bbox_x1: number;
  bbox_y1: number;
  size_mm: number | null;
  note: string | null;
  reviewer_key_id: string;
  created_at: Timestamp;
}

export interface SpcAlertsTable {
  id: string;
  signal_key: string;
  chart: string;
  dimension: string;
  group_key: string;
  family: string;
  rule: string;
  interval: string;
  start_key: string;
  point_key: string;
  value: number;
  centre: number;
  ucl: number;
  lcl: number;
  n: number;
  details: Json;
  detected_at: Timestamp;
  notified_at: Timestamp | null;
}

/** Migration 004's summary rows (written only by `core/store/inspection-facts-dal.ts`; see there). */
export interface InspectionFactsTable {
  inspection_id: string;
  piece_id: string;
  piece_created_at: Timestamp;
  created_at: Timestamp;
  day: string;
  sku: string;
  profile: string;
  metal: string;
  station_id: string;
  tree: string | null;
  flask: string | null;
  caster: string | null;
  setter: string | null;
  polisher: string | null;
  outcome: string;
  model_versions: string | null;
  first_judged: number;
  later: number;
  porosity_confirmed: number;
  porosity_rejected: number;
  porosity_undecided: number;
  porosity_added: number;
  stone_spacing_confirmed: number;
  stone_spacing_rejected: number;
  stone_spacing_undecided: number;
  stone_spacing_added: number;
  polish_confirmed: number;
  polish_rejected: number;
  polish_undecided: number;
  polish_added: number;
}

export interface InspectionFactFindingsTable {
  inspection_id: string;
  piece_created_at: Timestamp;
  family: string;
  kind: string;
  size_mm: number | null;
}

export type ReviewTables = {
  inspection_reviews: InspectionReviewsTable;
  finding_reviews: FindingReviewsTable;
  review_added_findings: ReviewAddedFindingsTable;
  spc_alerts: SpcAlertsTable;
  inspection_facts: InspectionFactsTable;
  inspection_fact_findings: InspectionFactFindingsTable;
};

export type ReportsDatabase = Database & ReviewTables;
export type ReportsDb = Kysely<ReportsDatabase>;

export function reportsDb(db: Db): ReportsDb {
  return db.withTables<ReviewTables>() as unknown as ReportsDb;
}
