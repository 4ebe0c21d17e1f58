import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { PieceSummarySchema } from '../inspection.schema.js';
import { NotFoundError, ConflictError } from '../errors.js';
import { jsonColumn, nowIso } from '../store/columns.js';
import type { Db } from '../store/db.js';
import { refreshInspectionFacts } from '../store/inspection-facts-dal.js';
import { reportsDb, type ReportsDatabase, type ReportsDb } from './tables.js';
import {
  AddedFindingInputSchema,
  DispositionInputSchema,
  FindingDecisionSchema,
  type AddedFindingInput,
  type DispositionInput,
  type FindingDecision,
} from './reviews.schema.js';

type Ex = ReportsDb | Transaction<ReportsDatabase>;

/** `id@version` of every model of the verdict, in id order: one string per model set, so agreement can GROUP BY it. */
export function modelVersionsKey(models: ReadonlyArray<{ id: string; version: string }>): string {
  return [...models].map((m) => `${m.id}@${m.version}`).sort().join(',') || 'unknown';
}

const SummaryColumn = jsonColumn(PieceSummarySchema.nullable());

/**
 * Writes an inspector's decisions (issue 8 calls these; each takes an optional transaction so the caller's audit
 * event lands with it). The review header is created on the first decision with the model and profile versions
 * the verdict was made with. `at` exists for the seeded history; live callers leave it out. Each action refreshes
 * the trend reports' summary rows of the piece in its transaction (`core/store/inspection-facts-dal.ts`), so a
 * report never shows the model's verdict where an inspector has decided otherwise.
 */
export function reviewsDal(store: Db) {
  const db = reportsDb(store);

  async function run<T>(ex: Ex | undefined, fn: (trx: Ex) => Promise<T>): Promise<T> {
    return ex ? fn(ex) : db.transaction().execute(fn);
  }

  async function ensureHeader(ex: Ex, inspectionId: string, reviewerKeyId: string, at: string): Promise<void> {
    const row = await ex
      .selectFrom('inspections')
      .select(['piece_id', 'status', 'summary'])
      .where('id', '=', inspectionId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError(`no inspection ${inspectionId}`, 'inspection_not_found');
    if (row.status !== 'done') throw new ConflictError(`inspection ${inspectionId} is ${row.status}; only finished inspections are reviewed`, 'not_inspected_yet');
    const summary = SummaryColumn.parse(row.summary);
    await ex
      .insertInto('inspection_reviews')
      .values({
        inspection_id: inspectionId,
        piece_id: row.piece_id,
        model_versions: modelVersionsKey(summary?.models ?? []),
        profile_version: summary ? `${summary.profile.name}@${summary.profile.version}` : 'unknown',
        reviewer_key_id: reviewerKeyId,
        created_at: at,
        updated_at: at,
      })
      .onConflict((oc) => oc.column('inspection_id').doUpdateSet({ reviewer_key_id: reviewerKeyId, updated_at: at }))
      .execute();
  }

  return {
    /** Confirm or reject one model finding (again: the last decision stands). */
    async reviewFinding(
      input: { inspectionId: string; findingId: string; decision: FindingDecision; reviewerKeyId: string; note?: string; at?: string },
      ex?: Ex,
    ): Promise<void> {
      const decision = FindingDecisionSchema.parse(input.decision);
      const at = input.at ?? nowIso();
      await run(ex, async (trx) => {
        const f = await trx.selectFrom('findings').select('inspection_id').where('id', '=', input.findingId).executeTakeFirst();
        if (!f || f.inspection_id !== input.inspectionId) {
          throw new NotFoundError(`inspection ${input.inspectionId} has no finding ${input.findingId}`, 'finding_not_found');
        }
        await ensureHeader(trx, input.inspectionId, input.reviewerKeyId, at);
        const values = { decision, note: input.note ?? null, reviewer_key_id: input.reviewerKeyId, reviewed_at: at };
        await trx
          .insertInto('finding_reviews')
          .values({ finding_id: input.findingId, inspection_id: input.inspectionId, ...values })
          .onConflict((oc) => oc.column('finding_id').doUpdateSet(values))
          .execute();
        await refreshInspectionFacts(trx, input.inspectionId);
      });
    },

    /** A defect the model missed, drawn as a box on a view. Returns its id. */
    async addMissedFinding(
      input: { inspectionId: string; reviewerKeyId: string; at?: string } & AddedFindingInput,
      ex?: Ex,
    ): Promise<string> {
      const f = AddedFindingInputSchema.parse(input);
      const at = input.at ?? nowIso();
      const id = randomUUID();
      await run(ex, async (trx) => {
        await ensureHeader(trx, input.inspectionId, input.reviewerKeyId, at);
        await trx
          .insertInto('review_added_findings')
          .values({
            id,
            inspection_id: input.inspectionId,
            view_n: f.viewN,
            family: f.family,
            kind: f.kind,
            bbox_x0: f.bbox[0],
            bbox_y0: f.bbox[1],
            bbox_x1: f.bbox[2],
            bbox_y1: f.bbox[3],
            size_mm: f.sizeMm ?? null,
            note: f.note ?? null,
            reviewer_key_id: input.reviewerKeyId,
            created_at: at,
          })
          .execute();
        await refreshInspectionFacts(trx, input.inspectionId);
      });
      return id;
    },

    async removeMissedFinding(inspectionId: string, id: string, ex?: Ex): Promise<boolean> {
      return run(ex, async (trx) => {
        const res = await trx.deleteFrom('review_added_findings').where('id', '=', id).where('inspection_id', '=', inspectionId).executeTakeFirst();
        const removed = Number(res.numDeletedRows) > 0;
        if (removed) await refreshInspectionFacts(trx, inspectionId);
        return removed;
      });
    },

    /** The piece's final disposition at this inspection: accept, rework (polish | re-set | recast) or scrap. */
    async setDisposition(
      input: { inspectionId: string; reviewerKeyId: string; at?: string } & DispositionInput,
      ex?: Ex,
    ): Promise<void> {
      const d = DispositionInputSchema.parse({ disposition: input.disposition, rework: input.rework, note: input.note });
      const at = input.at ?? nowIso();
      await run(ex, async (trx) => {
        await ensureHeader(trx, input.inspectionId, input.reviewerKeyId, at);
        await trx
          .updateTable('inspection_reviews')
          .set({ disposition: d.disposition, rework: d.rework ?? null, note: d.note ?? null, decided_at: at, reviewer_key_id: input.reviewerKeyId, updated_at: at })
          .where('inspection_id', '=', input.inspectionId)
          .execute();
        await refreshInspectionFacts(trx, input.inspectionId);
      });
    },

    async ofInspection(inspectionId: string) {
      const header = await db.selectFrom('inspection_reviews').selectAll().where('inspection_id', '=', inspectionId).executeTakeFirst();
      const findings = await db.selectFrom('finding_reviews').selectAll().where('inspection_id', '=', inspectionId).orderBy('finding_id').execute();
      const added = await db.selectFrom('review_added_findings').selectAll().where('inspection_id', '=', inspectionId).orderBy('created_at').execute();
      return { header: header ?? null, findings, added };
    },
  };
}
export type ReviewsDal = ReturnType<typeof reviewsDal>;
