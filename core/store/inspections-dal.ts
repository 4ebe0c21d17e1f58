import { sql, type Transaction } from 'kysely';
import { z } from 'zod';
import {
  InspectionStatusSchema,
  PieceSummarySchema,
  UploadMetadataSchema,
  VerdictSchema,
  type InspectionStatus,
  type PieceSummary,
  type UploadMetadata,
  type Verdict,
} from '../inspection.schema.js';
import { InspectionReportSchema, type InspectionReport } from '../../pipeline/report.schema.js';
import { withGateFlags } from '../../pipeline/score.js';
import { auditDal } from './audit-dal.js';
import { intColumn, jsonColumn, nowIso, numberColumn, timestampColumn } from './columns.js';
import type { Db } from './db.js';
import { refreshInspectionFacts, refreshPieceFacts } from './inspection-facts-dal.js';
import type { Database } from './tables.js';

export type Executor = Db | Transaction<Database>;

const InspectionRowSchema = z.object({
  id: z.string(),
  piece_id: z.string(),
  sku: z.string(),
  profile: z.string(),
  metal: z.string(),
  station_id: z.string(),
  tree: z.string().nullable(),
  metadata: jsonColumn(UploadMetadataSchema),
  status: InspectionStatusSchema,
  verdict: VerdictSchema.nullable(),
  summary: jsonColumn(PieceSummarySchema.nullable()),
  failure_reason: z.string().nullable(),
  attempts: intColumn,
  created_at: timestampColumn,
  updated_at: timestampColumn,
  started_at: timestampColumn.nullable(),
  finished_at: timestampColumn.nullable(),
});

const ViewRowSchema = z.object({
  inspection_id: z.string(),
  n: intColumn,
  view: z.string(),
  photo_sha256: z.string(),
  photo_type: z.string(),
  width: intColumn,
  height: intColumn,
  bytes: intColumn,
  file_name: z.string().nullable(),
  mm_per_px: numberColumn.nullable(),
  mm_per_px_source: z.enum(['given', 'calibration']).nullable(),
  calibration_id: z.string().nullable(),
  verdict: VerdictSchema.nullable(),
  report: jsonColumn(InspectionReportSchema.nullable()),
});

function toInspection(row: unknown) {
  const r = InspectionRowSchema.parse(row);
  return {
    id: r.id,
    pieceId: r.piece_id,
    sku: r.sku,
    profile: r.profile,
    metal: r.metal,
    stationId: r.station_id,
    tree: r.tree,
    metadata: r.metadata,
    status: r.status,
    verdict: r.verdict,
    summary: r.summary,
    failureReason: r.failure_reason,
    attempts: r.attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}
export type Inspection = ReturnType<typeof toInspection>;

function toView(row: unknown) {
  const r = ViewRowSchema.parse(row);
  return {
    n: r.n,
    view: r.view,
    photo: { sha256: r.photo_sha256, type: r.photo_type, width: r.width, height: r.height, bytes: r.bytes, fileName: r.file_name },
    mmPerPx: r.mm_per_px,
    mmPerPxSource: r.mm_per_px_source ?? (r.mm_per_px === null ? null : ('given' as const)),
    calibrationId: r.calibration_id,
    verdict: r.verdict,
    // Reports stored before findings carried `belowGate` get it derived here, so every reader (API body, overlay,
    // review page, export) sees which findings counted; it also renames their cached overlays (keyed by report).
    report: r.report && withGateFlags(r.report),
  };
}
export type InspectionView = ReturnType<typeof toView>;
export type InspectionWithViews = Inspection & { views: InspectionView[] };

export interface NewView {
  view: string;
  photoSha256: string;
  photoType: string;
  width: number;
  height: number;
  bytes: number;
  fileName: string | null;
  mmPerPx: number | null;
  /** Where `mmPerPx` came from; absent: `given` when there is a value. */
  mmPerPxSource?: 'given' | 'calibration';
  calibrationId?: string | null;
}

export interface NewFinding {
  viewN: number;
  family: string;
  kind: string;
  severity: number | null;
  confidence: number | null;
  sizeMm: number | null;
  areaMm2: number | null;
  bbox: [number, number, number, number] | null;
  measurements: Record<string, unknown>;
}

export interface Completion {
  verdict: Verdict;
  summary: PieceSummary;
  views: Array<{ n: number; verdict: Verdict; report: InspectionReport }>;
  findings: NewFinding[];
}

export interface InspectionFilter {
  verdict?: Verdict;
  status?: InspectionStatus;
  pieceId?: string;
  tree?: string;
  stationId?: string;
  /** ISO-8601 UTC, inclusive. */
  from?: string;
  /** ISO-8601 UTC, exclusive. */
  to?: string;
}

/** Position after the last item of a page: newest first, ties broken by id. */
export const CursorSchema = z.object({ createdAt: z.string(), id: z.string() });
export type Cursor = z.infer<typeof CursorSchema>;

export function inspectionsDal(db: Db) {
  const audit = auditDal(db);
  async function viewsOf(ex: Executor, ids: string[]): Promise<Map<string, InspectionView[]>> {
    const out = new Map<string, InspectionView[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = await ex.selectFrom('views').selectAll().where('inspection_id', 'in', ids).orderBy('n').execute();
    for (const row of rows) out.get(row.inspection_id)?.push(toView(row));
    return out;
  }

  return {
    /** Piece upsert + inspection + views, inside the caller's transaction (so the idempotency key lands with them). */
    async insert(
      trx: Transaction<Database>,
      input: { id: string; metadata: UploadMetadata; views: NewView[]; now?: string },
    ): Promise<void> {
      const now = input.now ?? nowIso();
      const m = input.metadata;
      await trx
        .insertInto('pieces')
        .values({ piece_id: m.pieceId, sku: m.sku ?? m.profile, metal: m.metal, created_at: now })
        .onConflict((oc) => oc.column('piece_id').doNothing())
        .execute();
      await trx
        .insertInto('inspections')
        .values({
          id: input.id,
          piece_id: m.pieceId,
          sku: m.sku ?? m.profile,
          profile: m.profile,
          metal: m.metal,
          station_id: m.stationId,
          tree: m.casting?.tree ?? null,
          flask: m.casting?.flask ?? null,
          caster: m.casting?.caster ?? null,
          cast_date: m.casting?.castDate ?? null,
          setter: m.finishing?.setter ?? null,
          polisher: m.finishing?.polisher ?? null,
          expected_stones: m.expectedStones ?? null,
          metadata: JSON.stringify(m),
          status: 'queued',
          attempts: 0,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await trx
        .insertInto('views')
        .values(
          input.views.map((v, n) => ({
            inspection_id: input.id,
            n,
            view: v.view,
            photo_sha256: v.photoSha256,
            photo_type: v.photoType,
            width: v.width,
            height: v.height,
            bytes: v.bytes,
            file_name: v.fileName,
            mm_per_px: v.mmPerPx,
            mm_per_px_source: v.mmPerPx === null ? null : (v.mmPerPxSource ?? 'given'),
            calibration_id: v.calibrationId ?? null,
          })),
        )
        .execute();
      // A re-inspection makes the piece's earlier look "inspected again" in the trend reports.
      await refreshPieceFacts(trx, m.pieceId, { onlyIfSummarised: true });
    },

    async get(id: string, ex: Executor = db): Promise<InspectionWithViews | null> {
      const row = await ex.selectFrom('inspections').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) return null;
      const views = await viewsOf(ex, [id]);
      return { ...toInspection(row), views: views.get(id) ?? [] };
    },

    async list(filter: InspectionFilter, limit: number, after?: Cursor): Promise<{ items: InspectionWithViews[]; next: Cursor | null }> {
      let q = db.selectFrom('inspections').selectAll();
      if (filter.verdict) q = q.where('verdict', '=', filter.verdict);
      if (filter.status) q = q.where('status', '=', filter.status);
      if (filter.pieceId) q = q.where('piece_id', '=', filter.pieceId);
      if (filter.tree) q = q.where('tree', '=', filter.tree);
      if (filter.stationId) q = q.where('station_id', '=', filter.stationId);
      if (filter.from) q = q.where('created_at', '>=', filter.from);
      if (filter.to) q = q.where('created_at', '<', filter.to);
      if (after) {
        q = q.where((eb) =>
          eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]),
        );
      }
      const rows = (await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute()).map(toInspection);
      const page = rows.slice(0, limit);
      const views = await viewsOf(db, page.map((r) => r.id));
      const last = page.at(-1);
      return {
        items: page.map((r) => ({ ...r, views: views.get(r.id) ?? [] })),
        next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
      };
    },

    /** Oldest first, so the first inspection of a piece comes first and each re-inspection follows it. */
    async listByPiece(pieceId: string): Promise<InspectionWithViews[]> {
      const rows = (
        await db.selectFrom('inspections').selectAll().where('piece_id', '=', pieceId).orderBy('created_at').orderBy('id').execute()
      ).map(toInspection);
      const views = await viewsOf(db, rows.map((r) => r.id));
      return rows.map((r) => ({ ...r, views: views.get(r.id) ?? [] }));
    },

    /** Returns false when the inspection is already finished (a duplicate delivery of its job). */
    async markProcessing(id: string): Promise<boolean> {
      const now = nowIso();
      const res = await db
        .updateTable('inspections')
        .set((eb) => ({ status: 'processing', attempts: eb('attempts', '+', 1), started_at: now, updated_at: now }))
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'processing'])
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** A retryable failure: back to `queued` until BullMQ's backoff hands the job out again. */
    async markRetrying(id: string, reason: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const res = await trx
          .updateTable('inspections')
          .set({ status: 'queued', failure_reason: reason, updated_at: nowIso() })
          .where('id', '=', id)
          .where('status', '!=', 'done')
          .executeTakeFirst();
        // A failed inspection coming back is a look again for the trend reports (a failed one is none).
        if (Number(res.numUpdatedRows) > 0) await refreshInspectionFacts(trx, id, { onlyIfSummarised: true });
      });
    },

    async markFailed(id: string, reason: string): Promise<void> {
      const now = nowIso();
      await db.transaction().execute(async (trx) => {
        const res = await trx
          .updateTable('inspections')
          .set({ status: 'failed', failure_reason: reason, finished_at: now, updated_at: now })
          .where('id', '=', id)
          .where('status', '!=', 'done')
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) > 0) await refreshInspectionFacts(trx, id, { onlyIfSummarised: true });
      });
    },

    /**
     * Report, per-view results and findings in one transaction. Findings are replaced, not appended, so a job that
     * runs again after a crash (or twice after a lost lock) leaves exactly one set. `afterWrite` runs in the same
     * transaction (webhook deliveries), before the audit event, which goes last to hold the chain lock briefly. The
     * trend reports' summary rows of the piece are refreshed in it too (`inspection-facts-dal.ts`).
     */
    async complete(id: string, result: Completion, afterWrite?: (trx: Transaction<Database>) => Promise<void>): Promise<void> {
      const now = nowIso();
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('findings').where('inspection_id', '=', id).execute();
        const counters = new Map<number, number>();
        const rows = result.findings.map((f) => {
          const k = counters.get(f.viewN) ?? 0;
          counters.set(f.viewN, k + 1);
          return {
            id: `${id}/${f.viewN}/${k}`,
            inspection_id: id,
            view_n: f.viewN,
            ord: k,
            family: f.family,
            kind: f.kind,
            severity: f.severity,
            confidence: f.confidence,
            size_mm: f.sizeMm,
            area_mm2: f.areaMm2,
            bbox_x0: f.bbox?.[0] ?? null,
            bbox_y0: f.bbox?.[1] ?? null,
            bbox_x1: f.bbox?.[2] ?? null,
            bbox_y1: f.bbox?.[3] ?? null,
            measurements: JSON.stringify(f.measurements),
            created_at: now,
          };
        });
        // Chunked: SQLite caps bound parameters per statement.
        for (let i = 0; i < rows.length; i += 50) await trx.insertInto('findings').values(rows.slice(i, i + 50)).execute();
        for (const v of result.views) {
          await trx
            .updateTable('views')
            .set({ verdict: v.verdict, report: JSON.stringify(v.report) })
            .where('inspection_id', '=', id)
            .where('n', '=', v.n)
            .execute();
        }
        await trx
          .updateTable('inspections')
          .set({
            status: 'done',
            verdict: result.verdict,
            summary: JSON.stringify(result.summary),
            failure_reason: null,
            finished_at: now,
            updated_at: now,
          })
          .where('id', '=', id)
          .execute();
        await refreshInspectionFacts(trx, id);
        await afterWrite?.(trx);
        await audit.append(trx, {
          actor: 'worker',
          action: 'inspection.verdict',
          subjectType: 'inspection',
          subjectId: id,
          data: {
            verdict: result.verdict,
            profile: result.summary.profile,
            models: result.summary.models,
            photos: result.views.map((v) => ({ n: v.n, sha256: v.report.photo.sha256, mmPerPx: v.report.photo.mmPerPx, mmPerPxSource: v.report.photo.mmPerPxSource })),
          },
        });
      });
    },

    /** Undoes an upload whose job could not be enqueued (the client got 503 and will retry). */
    async removeUnqueued(trx: Transaction<Database>, id: string): Promise<void> {
      const row = await trx.selectFrom('inspections').select(['piece_id', 'status']).where('id', '=', id).executeTakeFirst();
      if (!row || row.status !== 'queued') return;
      await trx.deleteFrom('idempotency_keys').where('inspection_id', '=', id).execute();
      await trx.deleteFrom('views').where('inspection_id', '=', id).execute();
      await trx.deleteFrom('inspections').where('id', '=', id).execute();
      const others = await trx.selectFrom('inspections').select('id').where('piece_id', '=', row.piece_id).limit(1).execute();
      if (others.length === 0) await trx.deleteFrom('pieces').where('piece_id', '=', row.piece_id).execute();
      else await refreshPieceFacts(trx, row.piece_id, { onlyIfSummarised: true });
    },

    /** Accepted but unfinished inspections older than `before`: candidates for the sweeper. */
    async unfinished(before: string, limit: number): Promise<Array<{ id: string; status: InspectionStatus }>> {
      const rows = await db
        .selectFrom('inspections')
        .select(['id', 'status'])
        .where('status', 'in', ['queued', 'processing'])
        .where('updated_at', '<', before)
        .orderBy('created_at')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ id: r.id, status: InspectionStatusSchema.parse(r.status) }));
    },

    async countsByStatusAndVerdict(): Promise<Array<{ status: InspectionStatus; verdict: Verdict | null; count: number }>> {
      const rows = await db
        .selectFrom('inspections')
        .select(['status', 'verdict', sql<number>`count(*)`.as('count')])
        .groupBy(['status', 'verdict'])
        .execute();
      return rows.map((r) => ({
        status: InspectionStatusSchema.parse(r.status),
        verdict: VerdictSchema.nullable().parse(r.verdict),
        count: intColumn.parse(r.count),
      }));
    },

    /** Summaries of inspections finished after `since` (ISO), oldest first: feeds the stage-duration histogram. */
    async finishedSince(since: string, limit: number): Promise<Array<{ id: string; finishedAt: string; summary: PieceSummary | null }>> {
      const rows = await db
        .selectFrom('inspections')
        .select(['id', 'finished_at', 'summary'])
        .where('status', '=', 'done')
        .where('finished_at', '>', since)
        .orderBy('finished_at')
        .limit(limit)
        .execute();
      const Row = z.object({ id: z.string(), finished_at: timestampColumn, summary: jsonColumn(PieceSummarySchema.nullable()) });
      return rows.map((row) => {
        const r = Row.parse(row);
        return { id: r.id, finishedAt: r.finished_at, summary: r.summary };
      });
    },
  };
}
export type InspectionsDal = ReturnType<typeof inspectionsDal>;
