import type { ColumnType, Generated } from 'kysely';

/**
 * Kysely's view of the tables created by `migrations/`. Timestamps are written as ISO-8601 UTC strings (PostgreSQL
 * casts them into `timestamptz`; SQLite keeps the text, which sorts chronologically), and JSON as text (PostgreSQL
 * casts into `jsonb`). What is read back is parsed by each DAL's zod row schema, because the two drivers return
 * different JS types for the same column (Date vs string, object vs string, bigint as string).
 */
type Timestamp = ColumnType<Date | string, string, string>;
type Json = ColumnType<unknown, string, string>;

export interface PiecesTable {
  piece_id: string;
  sku: string;
  metal: string;
  created_at: Timestamp;
}

export interface InspectionsTable {
  id: string;
  piece_id: string;
  sku: string;
  profile: string;
  metal: string;
  station_id: string;
  tree: string | null;
  flask: string | null;
  caster: string | null;
  cast_date: string | null;
  setter: string | null;
  polisher: string | null;
  expected_stones: number | null;
  metadata: Json;
  status: string;
  verdict: string | null;
  /** Piece-level result over the views (verdict reasons, missing views, profile and model versions). */
  summary: Json | null;
  failure_reason: string | null;
  attempts: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface ViewsTable {
  inspection_id: string;
  n: number;
  view: string;
  photo_sha256: string;
  photo_type: string;
  width: number;
  height: number;
  bytes: number;
  file_name: string | null;
  mm_per_px: number | null;
  verdict: string | null;
  report: Json | null;
}

export interface FindingsTable {
  /** `<inspection id>/<view n>/<index>`: deterministic, so a re-run job rewrites the same rows instead of adding. */
  id: string;
  inspection_id: string;
  view_n: number;
  /** Position within the view's findings, in report order (porosity, spacing, polish). */
  ord: number;
  family: string;
  kind: string;
  /** 0..1 relative to the profile's fail tolerance, where the pipeline gives one. */
  severity: number | null;
  confidence: number | null;
  size_mm: number | null;
  area_mm2: number | null;
  bbox_x0: number | null;
  bbox_y0: number | null;
  bbox_x1: number | null;
  bbox_y1: number | null;
  measurements: Json;
  created_at: Timestamp;
}

export interface ModelsTable {
  model_id: string;
  version: string;
  sha256: string;
  size_bytes: number;
  manifest: Json;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
}

export interface AuditEventsTable {
  seq: Generated<number>;
  at: Timestamp;
  actor: string;
  action: string;
  subject_type: string;
  subject_id: string;
  data: Json;
}

export interface IdempotencyKeysTable {
  key: string;
  inspection_id: string;
  /** sha256 of the metadata and photo hashes: the same key sent with a different request is a conflict. */
  fingerprint: string;
  created_at: Timestamp;
}

export interface Database {
  pieces: PiecesTable;
  inspections: InspectionsTable;
  views: ViewsTable;
  findings: FindingsTable;
  models: ModelsTable;
  audit_events: AuditEventsTable;
  idempotency_keys: IdempotencyKeysTable;
}
