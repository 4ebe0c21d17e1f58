import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Role } from '../../../core/auth/api-keys.js';
import { buildApp } from '../../../api/app.js';
import { loadConfig, type Config } from '../../../core/config.schema.js';
import { createPhotoStore } from '../../../core/photo-store/index.js';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import { createJobQueue, type JobQueue } from '../../../core/queue.js';
import type { Db } from '../../../core/store/db.js';
import { keysDal } from '../../../core/store/keys-dal.js';
import { loadProfiles, renderOverlay } from '../../../pipeline/index.js';
import { TEST_REDIS_URL, uniqueName } from '../../core/support/env.js';
import type { TestDatabase } from '../../core/support/databases.js';

export const FIXTURE_MODELS_DIR = fileURLToPath(new URL('../../fixtures/models', import.meta.url));

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  photos: PhotoStore;
  queue: JobQueue;
  /** Environment for a child process (worker) that must share this app's database, photos and queue. */
  env: Record<string, string>;
  /** The bootstrap admin key the app installed (LOUPE_BOOTSTRAP_ADMIN_KEY), and its header. */
  adminKey: string;
  auth: { authorization: string };
  /** `app.inject` with the admin key (a request's own headers win, so a test can send another key or none). */
  inject(opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** A key of the given role, made through the store (as `loupe keys create` does). */
  createKey(role: Role, name?: string, stationId?: string | null): Promise<{ key: string; id: string; auth: { authorization: string } }>;
  close(): Promise<void>;
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** The production app factory with a temp data folder, the given database and a queue prefix of its own. */
export async function testApp(
  db: TestDatabase,
  overrides: Record<string, string> = {},
  parts: { queue?: JobQueue; photos?: PhotoStore; logStream?: NodeJS.WritableStream } = {},
): Promise<TestApp> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-api-'));
  const adminKey = `test-admin-${randomBytes(24).toString('base64url')}`;
  const env: Record<string, string> = {
    LOUPE_BOOTSTRAP_ADMIN_KEY: adminKey,
    LOUPE_DATA_DIR: dataDir,
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: uniqueName('loupe_t'),
    MODELS_DIR: FIXTURE_MODELS_DIR,
    LOG_LEVEL: 'silent',
    ENQUEUE_TIMEOUT_MS: '1500',
    ...overrides,
  };
  const config = loadConfig(env);
  const photos = parts.photos ?? (await createPhotoStore(config));
  const queue = parts.queue ?? createJobQueue(config);
  const app = await buildApp({
    config,
    db: db.handle.db as Db,
    queue,
    photos,
    profileNames: loadProfiles({ env: {} }).names,
    renderOverlay: (photo, report) => renderOverlay(photo, report),
    ...(parts.logStream ? { logStream: parts.logStream } : {}),
  });
  const auth = bearer(adminKey);
  return {
    app,
    config,
    photos,
    queue,
    env,
    adminKey,
    auth,
    inject: (opts) => app.inject({ ...opts, headers: { ...auth, ...(opts.headers ?? {}) } }),
    async createKey(role, name = `${role}-${randomBytes(3).toString('hex')}`, stationId = null) {
      const made = await keysDal(db.handle.db as Db).create({ name, role, stationId }, { actor: 'test' });
      return { key: made.key, id: made.info.id, auth: bearer(made.key) };
    },
    async close() {
      await app.close();
      await queue.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function storedPhotoKeys(photos: PhotoStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of photos.keys()) keys.push(k);
  return keys;
}

/** Rows per table; `audit_events` counts the inspections' events only (the bootstrap key's event is always there). */
export async function rowCounts(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['pieces', 'inspections', 'views', 'findings', 'idempotency_keys'] as const) {
    const r = await db.selectFrom(t).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    out[t] = Number(r.n);
  }
  const a = await db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).where('subject_type', '=', 'inspection').executeTakeFirstOrThrow();
  out.audit_events = Number(a.n);
  return out;
}

export const sampleMetadata = (over: Record<string, unknown> = {}) => ({
  pieceId: 'R-1001',
  profile: 'ring',
  sku: 'RING-HE-3',
  metal: 'au750_yellow',
  casting: { tree: 'T-42', flask: 'F-3', caster: 'Ana', castDate: '2025-01-14' },
  finishing: { setter: 'Ben', polisher: 'Cleo' },
  stationId: 'qc-1',
  views: [{ view: 'top', mmPerPx: 0.01 }],
  ...over,
});
