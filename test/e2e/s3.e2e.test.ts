import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadSample } from '../../api/demo/samples.js';
import { storedPhotoKeys, testApp, type TestApp } from '../api/support/test-app.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { redisAnswers, skipUnless } from '../core/support/env.js';
import { startS3Server } from '../core/support/s3-server.js';
import { spawnWorker, type WorkerChild } from './support/processes.js';
import { getJson, modelsForE2e, samplesForE2e, waitFor } from './support/stack.js';

const redisUp = await redisAnswers();
const models = modelsForE2e();

describe.skipIf(skipUnless(redisUp, 'Redis'))('end to end with PHOTO_STORE=s3://… (s3rver): upload → worker process → report', () => {
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  let db: TestDatabase;
  let t: TestApp;
  let worker: WorkerChild;
  let base: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    s3 = await startS3Server('loupe-e2e');
    // The API in this process reads credentials the way production does: from the environment.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: s3.env.AWS_SECRET_ACCESS_KEY });
    db = await sqliteTestDatabase();
    t = await testApp(db, { MODELS_DIR: models.dir, PHOTO_STORE: `s3://${s3.bucket}/shop-1`, ...s3.env });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    // The worker shares nothing with the API but Redis, the database and the bucket.
    worker = await spawnWorker({ ...t.env, WORKER_CONCURRENCY: '1', ORT_INTRA_OP_THREADS: '2' });
  });
  afterAll(async () => {
    await worker?.kill('SIGTERM');
    await t?.close();
    await db?.drop();
    await s3?.stop();
    process.env = saved;
  });

  it('stores the photo in the bucket, the worker reads it from there, and the report and overlay come back', async () => {
    const { uploads } = await samplesForE2e();
    const sample = uploads[0]!;
    const station = await t.createKey('station', 's3-station');
    const r = await uploadSample(base, sample, { apiKey: station.key });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(t.photos.location).toBe(`s3://${s3.bucket}/shop-1/`);

    const done = await waitFor(
      'the report',
      async () => {
        const body = await getJson(`${base}/v1/inspections/${r.id}`, t.auth);
        return body.status === 'done' || body.status === 'failed' ? body : null;
      },
      180_000,
      500,
    );
    expect(done.status, done.failureReason).toBe('done');
    const sha = done.views[0].photo.sha256 as string;
    expect(done.views[0].report.photo.sha256).toBe(sha);
    expect(await storedPhotoKeys(t.photos)).toContain(sha);
    const overlay = await fetch(`${base}${done.views[0].overlayUrl}`, { headers: t.auth });
    expect(overlay.status).toBe(200);
    expect(overlay.headers.get('content-type')).toBe('image/png');
  });
});
