import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../db.js';
import { FACT_CONTEXT_COLUMNS, FACT_COUNT_COLUMNS, rebuildAllFacts } from '../inspection-facts-dal.js';

/**
 * The trend reports' summary tables (issue 10: a year of history, 50 casters, 200 000 findings in under 2 s).
 * Joining pieces, inspections, reviews and findings on every request cost seconds; these tables hold the same
 * answers pre-joined, kept current by `inspection-facts-dal.ts` in the transaction of every write that changes
 * them, and backfilled here for the rows that exist.
 *
 * - `inspection_facts`: one row per finished inspection: its piece and the piece's first upload (the report's
 *   period key), its casting and finishing context, its outcome (disposition over verdict), whether it is the
 *   piece's first judged inspection and whether the piece was inspected again after it, the review's model versions
 *   (null: not reviewed) and, per defect family, the model's findings confirmed / rejected / undecided and the
 *   inspector's added ones. The population is a partial index range (`first_judged = 1`), agreement another
 *   (`model_versions is not null`).
 * - `inspection_fact_findings`: the effective findings (family, kind, size) of each first judged inspection, with
 *   the piece's period key, for the Pareto and the pore-size histogram: one covering index range.
 *
 * The backfill runs the same SQL as the upkeep: if a later migration changes these tables, it must rebuild them
 * itself rather than rely on this backfill (which runs with the upkeep of its own day).
 */
export function inspectionFacts(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const ts = pg ? 'timestamptz' : 'text';
  const real = pg ? 'double precision' : 'real';
  return {
    async up(db: Kysely<any>) {
      let t = db.schema
        .createTable('inspection_facts')
        .addColumn('inspection_id', 'text', (c) => c.primaryKey().references('inspections.id').onDelete('cascade'))
        .addColumn('piece_id', 'text', (c) => c.notNull())
        .addColumn('piece_created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        /** UTC day of `created_at` (`YYYY-MM-DD`): the report's daily subgroup, grouped on without a cast per row. */
        .addColumn('day', 'text', (c) => c.notNull());
      for (const c of FACT_CONTEXT_COLUMNS) t = t.addColumn(c, 'text', (col) => (['sku', 'profile', 'metal', 'station_id'].includes(c) ? col.notNull() : col));
      t = t
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('model_versions', 'text')
        .addColumn('first_judged', 'integer', (c) => c.notNull())
        .addColumn('later', 'integer', (c) => c.notNull());
      for (const c of FACT_COUNT_COLUMNS) t = t.addColumn(c, 'integer', (col) => col.notNull().defaultTo(0));
      await t
        .addCheckConstraint('inspection_facts_outcome_ck', sql`outcome in ('accept', 'rework', 'scrap', 'reject', 'pending')`)
        .execute();
      await db.schema.createIndex('inspection_facts_piece_idx').on('inspection_facts').column('piece_id').execute();
      await db.schema
        .createIndex('inspection_facts_population_idx')
        .on('inspection_facts')
        .column('piece_created_at')
        .where(sql<boolean>`first_judged = 1`)
        .execute();
      await db.schema
        .createIndex('inspection_facts_reviewed_idx')
        .on('inspection_facts')
        .column('created_at')
        .where(sql<boolean>`model_versions is not null`)
        .execute();

      await db.schema
        .createTable('inspection_fact_findings')
        .addColumn('inspection_id', 'text', (c) => c.notNull().references('inspection_facts.inspection_id').onDelete('cascade'))
        .addColumn('piece_created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('size_mm', sql.raw(real))
        .execute();
      await db.schema.createIndex('inspection_fact_findings_inspection_idx').on('inspection_fact_findings').column('inspection_id').execute();
      await db.schema
        .createIndex('inspection_fact_findings_period_idx')
        .on('inspection_fact_findings')
        .columns(['piece_created_at', 'family', 'kind', 'size_mm'])
        .execute();

      await rebuildAllFacts(db);
    },
    async down(db: Kysely<any>) {
      for (const t of ['inspection_fact_findings', 'inspection_facts']) await db.schema.dropTable(t).ifExists().execute();
    },
  };
}
