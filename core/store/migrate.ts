import { Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import type { DbHandle } from './db.js';
import { initial } from './migrations/001-initial.js';
import { production } from './migrations/002-production.js';
import { reviewsAndTrends } from './migrations/003-reviews-and-trends.js';
import { inspectionFacts } from './migrations/004-inspection-facts.js';

/** Migrations live in code (not a folder scan) so they run the same under tsx, a bundle or a test. Append only. */
function migrations(dialect: DbHandle['dialect']): Record<string, Migration> {
  return {
    '001-initial': initial(dialect),
    '002-production': production(dialect),
    '003-reviews-and-trends': reviewsAndTrends(dialect),
    '004-inspection-facts': inspectionFacts(dialect),
  };
}

/**
 * Brings the schema to the latest version. Safe to call from every API and worker process at start-up: Kysely
 * takes a lock table, so concurrent callers wait and then find nothing left to do.
 */
export async function migrateToLatest(handle: DbHandle): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(handle.dialect) };
  // Kysely looks for its migration tables in every schema of the database unless told which one: with two schemas
  // (two deployments, or parallel test runs, selected by search_path) it finds the other's and skips creating its own.
  const migrationTableSchema =
    handle.dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(handle.db)).rows[0]?.s : undefined;
  const migrator = new Migrator({ db: handle.db, provider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    // Kysely's introspector lists the tables of every schema, then reads their columns: a schema dropped in between
    // (another deployment's or a parallel test run's) fails the read with undefined_table, or invalid_schema_name
    // when the whole schema went first. Nothing was migrated by then (PostgreSQL migrations run in a transaction), so
    // asking again is safe.
    const code = (error as { code?: string }).code;
    if (handle.dialect === 'postgres' && (code === '42P01' || code === '3F000') && attempt < 4) {
      await new Promise((r) => setTimeout(r, 100 * attempt));
      continue;
    }
    throw error instanceof Error ? error : new Error(String(error));
  }
}
