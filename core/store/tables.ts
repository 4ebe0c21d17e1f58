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
  /** `given` (in the upload) or `calibration` (the station's latest, fixed at upload); null: the profile default. */
  mm_per_px_source: ColumnType<string | null, string | null | undefined, string | null>;
  calibration_id: ColumnType<string | null, string | null | undefined, string | null>;
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
  /** Assigned by `auditDal.append` under the chain lock: previous seq + 1. */
  seq: Generated<number>;
  at: Timestamp;
  actor: string;
  /** The API key that acted (null for the worker, the CLI and events from before keys existed). */
  actor_key_id: ColumnType<string | null, string | null | undefined, string | null>;
  action: string;
  subject_type: string;
  subject_id: string;
  data: Json;
  /** Hash of the event before (64 zeros for the first), and of this one: see `audit-hash.ts`. */
  prev_hash: ColumnType<string | null, string | undefined, string>;
  hash: ColumnType<string | null, string | undefined, string>;
}

export interface ApiKeysTable {
  /** Public part of the key (`lp_<id>_…`), shown in lists and the audit trail. */
  id: string;
  name: string;
  role: string;
  /** A station key bound to a station may only upload for it. */
  station_id: string | null;
  /** sha256 hex of the whole key; the key itself is never stored. */
  hash: string;
  created_at: Timestamp;
  created_by: string;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface SessionsTable {
  /** sha256 hex of the cookie value. */
  token_hash: string;
  key_id: string;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface WebhooksTable {
  id: string;
  url: string;
  /** HMAC key; needed in clear to sign, so it is only ever shown once to the admin who registers it. */
  secret: string;
  /** null: every station. */
  station_id: string | null;
  events: Json;
  created_at: Timestamp;
  created_by: string;
  disabled_at: Timestamp | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event: string;
  inspection_id: string | null;
  /** The exact body sent (every attempt sends the same bytes, signed afresh with the attempt's timestamp). */
  body: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  delivered_at: Timestamp | null;
}

export interface StationCalibrationsTable {
  id: string;
  station_id: string;
  mm_per_px: number;
  mm_per_px_x: number;
  mm_per_px_y: number;
  square_mm: number;
  corners_x: number;
  corners_y: number;
  photo_sha256: string;
  warnings: Json;
  metrics: Json;
  created_at: Timestamp;
  created_by: string;
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
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  station_calibrations: StationCalibrationsTable;
}
