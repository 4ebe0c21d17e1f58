import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalRedis, type LocalRedis } from '../../core/local-redis.js';
import { auditDal } from '../../core/store/audit-dal.js';
import { findingsDal } from '../../core/store/findings-dal.js';
import { inspectionsDal } from '../../core/store/inspections-dal.js';
import { InspectionReportSchema } from '../../pipeline/report.schema.js';
import { uploadBody } from '../api/support/multipart.js';
import { jpegPhoto } from '../api/support/photos.js';
import { rowCounts, sampleMetadata, storedPhotoKeys, testApp, type TestApp } from '../api/support/test-app.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { redisAnswers, skipUnless } from '../core/support/env.js';
import { spawnWorker, type WorkerChild } from './support/processes.js';
import { countedFindings, modelsForE2e, waitFor } from './support/stack.js';

const redisUp = await redisAnswers();
const models = modelsForE2e();
// Fast crash detection for the test: a dead worker's job is handed on after 3 s instead of 30 s.
const FAST_RECOVERY = { JOB_LOCK_MS: '3000', JOB_STALLED_INTERVAL_MS: '1000', SWEEPER_INTERVAL_MS: '500', SWEEPER_GRACE_MS: '0' };

let apiKey = '';
async function post(base: string, metadata: unknown, photo: Buffer, headers: Record<string, string> = {}) {
  const { body, contentType } = uploadBody(metadata, [{ data: photo }]);
  const res = await fetch(`${base}/v1/inspections`, {
    method: 'POST',
    body: new Uint8Array(body),
    headers: { 'content-type': contentType, authorization: `Bearer ${apiKey}`, ...headers },
  });
  return { status: res.status, body: (await res.json()) as { id: string; error?: string; message?: string } };
}

describe.skipIf(skipUnless(redisUp, 'Redis'))('faults', () => {
  let redisDir: string;
  let redis: LocalRedis;
  let db: TestDatabase;
  let t: TestApp;
  let base: string;
  let big: Buffer;
  const workers: WorkerChild[] = [];

  beforeAll(async () => {
    // A Redis of our own (no persistence), so it can be killed and wiped without touching the shared one.
    redisDir = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-redis-'));
    redis = await startLocalRedis({ dir: redisDir });
    db = await sqliteTestDatabase();
    t = await testApp(db, { REDIS_URL: redis.url, MODELS_DIR: models.dir, ENQUEUE_TIMEOUT_MS: '1000', ...FAST_RECOVERY });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    apiKey = t.adminKey;
    // 12 MP: long enough in the model (~2 s) to be killed half-way.
    big = await jpegPhoto(4000, 3000, 7);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await t?.close();
    await db?.drop();
    await redis?.stop('SIGKILL');
    await fs.rm(redisDir, { recursive: true, force: true });
  });

  async function startWorker() {
    const w = await spawnWorker({ ...t.env, ORT_INTRA_OP_THREADS: '2' });
    workers.push(w);
    return w;
  }

  it('SIGKILL of the worker mid-job: the job completes exactly once (one report, one set of findings)', async () => {
    const first = await startWorker();
    const res = await post(base, sampleMetadata({ pieceId: 'KILL-1' }), big);
    expect(res.status).toBe(202);
    const id = res.body.id;
    const dal = inspectionsDal(db.handle.db);
    await waitFor('the worker to start the job', async () => (await dal.get(id))?.status === 'processing', 30_000, 20);
    await first.kill('SIGKILL');
    expect((await dal.get(id))?.status).toBe('processing');

    await startWorker();
    const done = await waitFor('the job to complete on the second worker', async () => {
      const row = await dal.get(id);
      return row?.status === 'done' ? row : null;
    }, 60_000);
    expect(done.attempts).toBeGreaterThanOrEqual(2);
    const report = InspectionReportSchema.parse(done.views[0]!.report);
    const inReport = countedFindings(report);
    expect(await findingsDal(db.handle.db).count(id)).toBe(inReport);
    const verdicts = (await auditDal(db.handle.db).ofSubject('inspection', id)).filter((e) => e.action === 'inspection.verdict');
    expect(verdicts).toHaveLength(1);
    // Two worker start-ups (each loads the models and warms them up) and a 12 MP job on top of the waits above: on a
    // host whose onnxruntime runs the seg pass in ~0.6 s, with other suites sharing the two cores, this took over 60 s.
  }, 150_000);

  it('the same Idempotency-Key sent twice at once gives one inspection', async () => {
    const photo = await jpegPhoto(800, 600, 11);
    const [a, b] = await Promise.all([
      post(base, sampleMetadata({ pieceId: 'IDEM-RACE' }), photo, { 'idempotency-key': 'race-1' }),
      post(base, sampleMetadata({ pieceId: 'IDEM-RACE' }), photo, { 'idempotency-key': 'race-1' }),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.id).toBe(b.body.id);
    expect(await inspectionsDal(db.handle.db).listByPiece('IDEM-RACE')).toHaveLength(1);
  });

  it('Redis unreachable at upload: 503 with the reason, nothing written; after Redis is back the upload goes through', async () => {
    for (const w of workers.splice(0)) await w.kill('SIGTERM');
    const before = await rowCounts(db.handle.db);
    const keysBefore = (await storedPhotoKeys(t.photos)).length;
    await redis.stop('SIGKILL');
    const res = await post(base, sampleMetadata({ pieceId: 'DOWN-1' }), await jpegPhoto(800, 600, 12));
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('queue_unavailable');
    expect(res.body.message).toMatch(/Redis/);
    expect(await rowCounts(db.handle.db)).toEqual(before);
    expect((await storedPhotoKeys(t.photos)).length).toBe(keysBefore);
    redis = await startLocalRedis({ dir: redisDir, port: redis.port });
    const again = await waitFor('the API to reconnect', async () => {
      const r = await post(base, sampleMetadata({ pieceId: 'DOWN-1' }), await jpegPhoto(800, 600, 12));
      return r.status === 202 ? r : null;
    }, 20_000, 300);
    expect(again.body.id).toBeTruthy();
  });

  it('Redis restarted with its data wiped while inspections wait: the sweeper re-enqueues and every one completes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(base, sampleMetadata({ pieceId: `WIPE-${i}` }), await jpegPhoto(800, 600, 20 + i));
      expect(r.status).toBe(202);
      ids.push(r.body.id);
    }
    // No worker yet: the jobs wait in Redis, which now dies and comes back empty.
    await redis.stop('SIGKILL');
    await fs.rm(redisDir, { recursive: true, force: true });
    redis = await startLocalRedis({ dir: redisDir, port: redis.port });
    await startWorker();
    const dal = inspectionsDal(db.handle.db);
    await waitFor('every waiting inspection to complete', async () => {
      const rows = await Promise.all([...ids, ...(await dal.listByPiece('DOWN-1')).map((r) => r.id)].map((id) => dal.get(id)));
      return rows.every((r) => r?.status === 'done');
    }, 90_000, 300);
    expect(workers.at(-1)!.logs()).toMatch(/sweeper repaired inspections/);
  });
});
