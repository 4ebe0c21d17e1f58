import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { DatabaseTarget } from '../../../core/config.schema.js';
import { openDatabase, type DbHandle } from '../../../core/store/db.js';
import { migrateToLatest } from '../../../core/store/migrate.js';
import { TEST_PG_URL, uniqueName } from './env.js';

export interface TestDatabase {
  /** What to put in DATABASE_URL for a child process (API, worker) to use the same database. */
  url: string;
  target: DatabaseTarget;
  handle: DbHandle;
  drop(): Promise<void>;
}

/** A fresh SQLite file in a temp folder. */
export async function sqliteTestDatabase(): Promise<TestDatabase> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-db-'));
  const file = path.join(dir, 'loupe.db');
  const target: DatabaseTarget = { kind: 'sqlite', file };
  const handle = await openDatabase(target);
  await migrateToLatest(handle);
  return {
    url: `sqlite:${file}`,
    target,
    handle,
    async drop() {
      await handle.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A uniquely named PostgreSQL schema in the shared `test` database, selected through the connection string's
 * `options=-c search_path=…`, so parallel test files and child processes each see only their own tables.
 */
export async function postgresTestDatabase(baseUrl = TEST_PG_URL): Promise<TestDatabase> {
  const schema = uniqueName('loupe_t');
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  await admin.end();
  const u = new URL(baseUrl);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const url = u.toString();
  const target: DatabaseTarget = { kind: 'postgres', url };
  const handle = await openDatabase(target);
  await migrateToLatest(handle);
  return {
    url,
    target,
    handle,
    async drop() {
      await handle.close();
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`drop schema if exists "${schema}" cascade`);
      await c.end();
    },
  };
}

export const DATABASES = [
  { name: 'sqlite', create: sqliteTestDatabase },
  { name: 'postgres', create: postgresTestDatabase },
] as const;
