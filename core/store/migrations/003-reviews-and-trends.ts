import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../db.js';

/**
 * Inspector reviews (issue 8 writes them) and the trend reports' alerts and indexes (issue 10 reads them).
 *
 * ## Reviews: what an inspector decided, per inspection
 * - `inspection_reviews`: one row per reviewed inspection (the review "header"). Created by the first decision of
 *   any kind on the inspection; it records the model versions and the profile version the verdict was made with
 *   (copied from `inspections.summary` at that moment, so agreement per model version is a plain GROUP BY) and the
 *   piece's final **disposition**: `accept`, `rework` (with `rework` = `polish` | `re-set` | `recast`) or `scrap`,
 *   a note, who decided (`reviewer_key_id`: the API key id of the inspector) and when. `disposition` stays null
 *   while the inspector has only judged findings. Deciding again overwrites; the audit trail keeps the history.
 * - `finding_reviews`: per model finding (`findings.id`), `confirmed` or `rejected`. A rejected finding is a false
 *   positive: reports drop it; a confirmed one stays. Unreviewed findings count as the model said.
 * - `review_added_findings`: a defect the model missed, drawn by the inspector as a box on a view with its family and
 *   kind (same vocabulary as `findings.family` / `findings.kind`) and, where known, its size in mm. Reports count
 *   it like a model finding.
 * Write them through `core/reports/reviews-dal.ts` (one function per inspector action) so the header is always
 * there and the versions are copied. Wherever an inspector decided, the decision overrides the model: a rejected
 * finding disappears, a missed one appears, and a disposition replaces the model's verdict for yield.
 *
 * ## Alerts
 * `spc_alerts`: one row per out-of-control signal ever seen (the unique `signal_key` names the chart, the group, the
 * rule and the subgroup where the signal started), so checking again never alerts twice, from any number of worker
 * processes (the insert that wins sends the webhook).
 */
export function reviewsAndTrends(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const ts = pg ? 'timestamptz' : 'text';
  const json = pg ? 'jsonb' : 'text';
  const real = pg ? 'double precision' : 'real';
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('inspection_reviews')
        .addColumn('inspection_id', 'text', (c) => c.primaryKey().references('inspections.id').onDelete('cascade'))
        .addColumn('piece_id', 'text', (c) => c.notNull())
        /** Model ids and versions of the verdict, `id@version` joined by `,` in id order: the agreement report's key. */
        .addColumn('model_versions', 'text', (c) => c.notNull())
        .addColumn('profile_version', 'text', (c) => c.notNull())
        .addColumn('disposition', 'text')
        .addColumn('rework', 'text')
        .addColumn('note', 'text')
        .addColumn('reviewer_key_id', 'text', (c) => c.notNull())
        .addColumn('decided_at', sql.raw(ts))
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('updated_at', sql.raw(ts), (c) => c.notNull())
        .addCheckConstraint('inspection_reviews_disposition_ck', sql`disposition is null or disposition in ('accept', 'rework', 'scrap')`)
        .addCheckConstraint(
          'inspection_reviews_rework_ck',
          sql`(disposition = 'rework' and rework in ('polish', 're-set', 'recast')) or ((disposition is null or disposition <> 'rework') and rework is null)`,
        )
        .execute();
      await db.schema.createIndex('inspection_reviews_piece_idx').on('inspection_reviews').column('piece_id').execute();
      await db.schema.createIndex('inspection_reviews_models_idx').on('inspection_reviews').column('model_versions').execute();

      await db.schema
        .createTable('finding_reviews')
        .addColumn('finding_id', 'text', (c) => c.primaryKey().references('findings.id').onDelete('cascade'))
        .addColumn('inspection_id', 'text', (c) => c.notNull().references('inspection_reviews.inspection_id').onDelete('cascade'))
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('note', 'text')
        .addColumn('reviewer_key_id', 'text', (c) => c.notNull())
        .addColumn('reviewed_at', sql.raw(ts), (c) => c.notNull())
        .addCheckConstraint('finding_reviews_decision_ck', sql`decision in ('confirmed', 'rejected')`)
        .execute();
      await db.schema.createIndex('finding_reviews_inspection_idx').on('finding_reviews').columns(['inspection_id', 'decision']).execute();

      await db.schema
        .createTable('review_added_findings')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('inspection_id', 'text', (c) => c.notNull().references('inspection_reviews.inspection_id').onDelete('cascade'))
        .addColumn('view_n', 'integer', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        /** Box in the view's photo pixels, like `findings.bbox_*`. */
        .addColumn('bbox_x0', sql.raw(real), (c) => c.notNull())
        .addColumn('bbox_y0', sql.raw(real), (c) => c.notNull())
        .addColumn('bbox_x1', sql.raw(real), (c) => c.notNull())
        .addColumn('bbox_y1', sql.raw(real), (c) => c.notNull())
        /** Same meaning as `findings.size_mm` (a pore's equivalent diameter, …) when the reviewer measured it. */
        .addColumn('size_mm', sql.raw(real))
        .addColumn('note', 'text')
        .addColumn('reviewer_key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addCheckConstraint('review_added_findings_family_ck', sql`family in ('porosity', 'stone_spacing', 'polish')`)
        .execute();
      await db.schema.createIndex('review_added_findings_inspection_idx').on('review_added_findings').columns(['inspection_id', 'family']).execute();

      await db.schema
        .createTable('spc_alerts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('signal_key', 'text', (c) => c.notNull().unique())
        .addColumn('chart', 'text', (c) => c.notNull())
        .addColumn('dimension', 'text', (c) => c.notNull())
        .addColumn('group_key', 'text', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('interval', 'text', (c) => c.notNull())
        /** Subgroup where the run began (= the point itself for a point beyond the limits) and where it fired. */
        .addColumn('start_key', 'text', (c) => c.notNull())
        .addColumn('point_key', 'text', (c) => c.notNull())
        .addColumn('value', sql.raw(real), (c) => c.notNull())
        .addColumn('centre', sql.raw(real), (c) => c.notNull())
        .addColumn('ucl', sql.raw(real), (c) => c.notNull())
        .addColumn('lcl', sql.raw(real), (c) => c.notNull())
        .addColumn('n', 'integer', (c) => c.notNull())
        .addColumn('details', sql.raw(json), (c) => c.notNull())
        .addColumn('detected_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('notified_at', sql.raw(ts))
        .execute();
      await db.schema.createIndex('spc_alerts_detected_idx').on('spc_alerts').columns(['detected_at']).execute();

      // Trend reports: the period scan runs on (status, created_at) (001's index); these serve the filters and the
      // per-inspection findings aggregate without touching the findings' JSON (measured in test/bench).
      // The report's population is the pieces first presented in the period, then each piece's few inspections.
      await db.schema.createIndex('pieces_created_idx').on('pieces').columns(['created_at', 'piece_id']).execute();
      await db.schema.createIndex('inspections_caster_idx').on('inspections').columns(['caster', 'created_at']).execute();
      await db.schema.createIndex('inspections_metal_idx').on('inspections').columns(['metal', 'created_at']).execute();
      await db.schema
        .createIndex('findings_report_idx')
        .on('findings')
        .columns(['inspection_id', 'family', 'kind', 'size_mm', 'id'])
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const i of ['findings_report_idx', 'inspections_metal_idx', 'inspections_caster_idx', 'pieces_created_idx']) await db.schema.dropIndex(i).ifExists().execute();
      for (const t of ['spc_alerts', 'review_added_findings', 'finding_reviews', 'inspection_reviews']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}
