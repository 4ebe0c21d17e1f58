import fs from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createJobQueue, type JobQueue } from '../../core/queue.js';
import { inspectionsDal } from '../../core/store/inspections-dal.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { freePort, redisAnswers, skipUnless, TEST_REDIS_URL } from '../core/support/env.js';
import { fakeReport } from '../core/support/report-fixture.js';
import { multipart, uploadBody } from './support/multipart.js';
import { jpegPhoto, pngBomb } from './support/photos.js';
import { rowCounts, sampleMetadata, storedPhotoKeys, testApp, type TestApp } from './support/test-app.js';

const redisUp = await redisAnswers();

describe.skipIf(skipUnless(redisUp, 'Redis'))('POST /v1/inspections and reading inspections back', () => {
  let db: TestDatabase;
  let t: TestApp;
  let photo: Buffer;
  let photo2: Buffer;

  beforeAll(async () => {
    db = await sqliteTestDatabase();
    t = await testApp(db);
    photo = await jpegPhoto(800, 600, 1);
    photo2 = await jpegPhoto(800, 600, 2);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  async function upload(metadata: unknown, photos: Array<{ data: Buffer; filename?: string }>, headers: Record<string, string> = {}) {
    const { body, contentType } = uploadBody(metadata, photos);
    return t.inject({ method: 'POST', url: '/v1/inspections', payload: body, headers: { 'content-type': contentType, ...headers } });
  }

  it('accepts an upload with 202, stores the photo by hash and queues a job carrying keys, not bytes', async () => {
    const res = await upload(sampleMetadata(), [{ data: photo, filename: 'top.jpg' }]);
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ status: 'queued', statusUrl: `/v1/inspections/${body.id}` });
    expect(res.headers.location).toBe(body.statusUrl);

    const q = new Queue('inspect', { connection: { url: TEST_REDIS_URL }, prefix: t.config.queuePrefix });
    const job = await q.getJob(body.id);
    await q.close();
    expect(job?.id).toBe(body.id);
    expect(job?.data.views[0].photoKey).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(job?.data).length).toBeLessThan(1000);
    expect(await storedPhotoKeys(t.photos)).toContain(job?.data.views[0].photoKey);

    const got = await t.inject({ method: 'GET', url: body.statusUrl });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      id: body.id,
      status: 'queued',
      verdict: null,
      pieceId: 'R-1001',
      tree: 'T-42',
      views: [{ n: 0, view: 'top', verdict: null, report: null, overlayUrl: null, photo: { type: 'jpeg', width: 800, height: 600, fileName: 'top.jpg' } }],
    });
  });

  it('stores the same photo bytes once across uploads', async () => {
    const before = (await storedPhotoKeys(t.photos)).length;
    expect((await upload(sampleMetadata({ pieceId: 'R-dup-1' }), [{ data: photo2 }])).statusCode).toBe(202);
    expect((await upload(sampleMetadata({ pieceId: 'R-dup-2' }), [{ data: photo2 }])).statusCode).toBe(202);
    expect((await storedPhotoKeys(t.photos)).length).toBe(before + 1);
  });

  it('answers the same Idempotency-Key with the same inspection, and refuses it for a different upload', async () => {
    const key = `idem-${Date.now()}`;
    const a = await upload(sampleMetadata({ pieceId: 'R-idem' }), [{ data: photo }], { 'idempotency-key': key });
    const b = await upload(sampleMetadata({ pieceId: 'R-idem' }), [{ data: photo }], { 'idempotency-key': key });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(b.json().id).toBe(a.json().id);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect((await inspectionsDal(db.handle.db).listByPiece('R-idem')).length).toBe(1);

    const c = await upload(sampleMetadata({ pieceId: 'R-other' }), [{ data: photo }], { 'idempotency-key': key });
    expect(c.statusCode).toBe(409);
    expect(c.json().message).toContain(a.json().id);
  });

  it('lists inspections newest first with filters and a cursor, and links every inspection of a piece', async () => {
    for (let i = 0; i < 3; i++) expect((await upload(sampleMetadata({ pieceId: 'R-list', stationId: 'qc-list' }), [{ data: photo }])).statusCode).toBe(202);
    const p1 = await t.inject({ method: 'GET', url: '/v1/inspections?station=qc-list&limit=2' });
    expect(p1.statusCode).toBe(200);
    expect(p1.json().items).toHaveLength(2);
    expect(p1.json().next).toContain('station=qc-list');
    const p2 = await t.inject({ method: 'GET', url: p1.json().next });
    expect(p2.json().items).toHaveLength(1);
    expect(p2.json().nextCursor).toBeNull();
    const all = [...p1.json().items, ...p2.json().items].map((i: { id: string }) => i.id);

    const piece = await t.inject({ method: 'GET', url: '/v1/pieces/R-list' });
    expect(piece.statusCode).toBe(200);
    const ins = piece.json().inspections;
    expect(ins.map((i: { id: string }) => i.id)).toEqual([...all].reverse());
    expect(ins[0].reinspectionOf).toBeNull();
    expect(ins[1].reinspectionOf).toBe(ins[0].id);
    expect(piece.json().firstInspectionId).toBe(ins[0].id);

    expect((await t.inject({ method: 'GET', url: '/v1/inspections?verdict=maybe' })).statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: '/v1/inspections?cursor=garbage' })).json().error).toBe('invalid_cursor');
    expect((await t.inject({ method: 'GET', url: '/v1/pieces/nobody' })).statusCode).toBe(404);
    expect((await t.inject({ method: 'GET', url: '/v1/inspections/2b1c0a44-6c50-4d55-9a55-111111111111' })).statusCode).toBe(404);
  });

  it('renders an overlay once the view has a report, and serves it from the cache afterwards', async () => {
    const res = await upload(sampleMetadata({ pieceId: 'R-ovl' }), [{ data: photo }]);
    const id = res.json().id as string;
    const before = await t.inject({ method: 'GET', url: `/v1/inspections/${id}/views/0/overlay.png` });
    expect(before.statusCode).toBe(409);
    const row = await inspectionsDal(db.handle.db).get(id);
    const report = fakeReport({ porous: true, sha256: row!.views[0]!.photo.sha256 });
    await inspectionsDal(db.handle.db).complete(id, {
      verdict: 'fail',
      summary: { verdict: 'fail', reasons: ['top: porosity fail'], missingViews: ['side'], profile: report.profile, models: report.models, timingsMs: {} },
      views: [{ n: 0, verdict: 'fail', report }],
      findings: [],
    });
    const first = await t.inject({ method: 'GET', url: `/v1/inspections/${id}/views/0/overlay.png` });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['content-type']).toBe('image/png');
    expect(first.rawPayload.subarray(0, 4).toString('hex')).toBe('89504e47');
    const cached = await fs.readdir(path.join(t.config.overlayCacheDir, id));
    expect(cached).toHaveLength(1);
    const second = await t.inject({ method: 'GET', url: `/v1/inspections/${id}/views/0/overlay.png` });
    expect(second.rawPayload.equals(first.rawPayload)).toBe(true);
    expect((await t.inject({ method: 'GET', url: `/v1/inspections/${id}/views/5/overlay.png` })).statusCode).toBe(404);

    const got = (await t.inject({ method: 'GET', url: `/v1/inspections/${id}` })).json();
    expect(got).toMatchObject({ status: 'done', verdict: 'fail', missingViews: ['side'] });
    expect(got.views[0].overlayUrl).toBe(`/v1/inspections/${id}/views/0/overlay.png`);
  });
});

describe.skipIf(skipUnless(redisUp, 'Redis'))('bad input is refused with a 4xx that says why, and nothing is stored', () => {
  let db: TestDatabase;
  let t: TestApp;
  let photo: Buffer;

  beforeAll(async () => {
    db = await sqliteTestDatabase();
    t = await testApp(db, { MAX_PHOTO_BYTES: String(32 * 1024 * 1024) });
    photo = await jpegPhoto(800, 600, 3);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  async function send(body: { body: Buffer; contentType: string }) {
    return t.inject({ method: 'POST', url: '/v1/inspections', payload: body.body, headers: { 'content-type': body.contentType } });
  }

  async function expectNothingStored() {
    expect(await storedPhotoKeys(t.photos)).toEqual([]);
    expect(await fs.readdir(path.join(t.config.photoStoreDir, '.staging'))).toEqual([]);
    const counts = await rowCounts(db.handle.db);
    expect(counts).toMatchObject({ pieces: 0, inspections: 0, views: 0, audit_events: 0 });
  }

  const cases: Array<[string, () => Promise<{ body: Buffer; contentType: string }>, number, RegExp]> = [
    ['non-image bytes', async () => uploadBody(sampleMetadata(), [{ data: Buffer.from('%PDF-1.7 this is a document, not a photo') }]), 415, /not an image/],
    ['a truncated JPEG', async () => uploadBody(sampleMetadata(), [{ data: photo.subarray(0, Math.floor(photo.length / 2)) }]), 422, /truncated or corrupt/],
    ['a decompression bomb (100 000 × 100 000 PNG in a few hundred bytes)', async () => uploadBody(sampleMetadata(), [{ data: pngBomb(), filename: 'bomb.png' }]), 413, /MAX_PHOTO_PIXELS/],
    [
      'a 60 MB upload',
      async () => uploadBody(sampleMetadata(), [{ data: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(60 * 1024 * 1024, 1)]) }]),
      413,
      /MAX_PHOTO_BYTES/,
    ],
    ['an unknown metal', async () => uploadBody(sampleMetadata({ metal: 'au585_green' }), [{ data: photo }]), 400, /metadata\.metal/],
    [
      'a missing piece id',
      async () => {
        const { pieceId: _omit, ...rest } = sampleMetadata();
        return uploadBody(rest, [{ data: photo }]);
      },
      400,
      /metadata\.pieceId/,
    ],
    ['a path-traversal file name', async () => uploadBody(sampleMetadata(), [{ data: photo, filename: '../../etc/passwd.jpg' }]), 400, /contains a path/],
    ['a 1 MB metadata field', async () => uploadBody({ ...sampleMetadata(), note: 'x'.repeat(1024 * 1024) }, [{ data: photo }]), 413, /MAX_FIELD_BYTES/],
    ['metadata that is not JSON', async () => uploadBody('{"pieceId": ', [{ data: photo }]), 400, /not valid JSON/],
    ['an unknown profile', async () => uploadBody(sampleMetadata({ profile: 'tiara' }), [{ data: photo }]), 422, /unknown profile "tiara"/],
    ['more photos than views', async () => uploadBody(sampleMetadata(), [{ data: photo }, { data: photo }]), 400, /more photos than/],
    ['fewer photos than views', async () => uploadBody(sampleMetadata({ views: [{ view: 'top' }, { view: 'side' }] }), [{ data: photo }]), 400, /2 views but 1 photos/],
    [
      'photos before the metadata',
      async () =>
        multipart([
          { kind: 'file', name: 'photo', filename: 'a.jpg', data: photo },
          { kind: 'field', name: 'metadata', value: JSON.stringify(sampleMetadata()) },
        ]),
      400,
      /before the photo parts/,
    ],
    ['no metadata at all', async () => multipart([]), 400, /"metadata" is missing/],
    ['an unexpected field', async () => multipart([{ kind: 'field', name: 'pieceId', value: 'R-1' }]), 400, /unexpected field "pieceId"/],
  ];

  for (const [what, make, status, message] of cases) {
    it(`refuses ${what} with ${status}`, async () => {
      const res = await send(await make());
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json().message).toMatch(message);
      await expectNothingStored();
    });
  }

  it('refuses a JSON body with 415 and says what to send', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/inspections', payload: { pieceId: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/multipart\/form-data/);
  });
});

describe.skipIf(skipUnless(redisUp, 'Redis'))('Redis unreachable at upload', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await sqliteTestDatabase();
  });

  it('answers 503 with the reason and writes nothing', async () => {
    const t = await testApp(db, { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, ENQUEUE_TIMEOUT_MS: '500' });
    try {
      const { body, contentType } = uploadBody(sampleMetadata(), [{ data: await jpegPhoto(800, 600, 4) }]);
      const res = await t.inject({ method: 'POST', url: '/v1/inspections', payload: body, headers: { 'content-type': contentType } });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ error: 'queue_unavailable' });
      expect(res.json().message).toMatch(/Redis/);
      expect(await storedPhotoKeys(t.photos)).toEqual([]);
      expect(await rowCounts(db.handle.db)).toMatchObject({ inspections: 0, views: 0, pieces: 0, audit_events: 0, idempotency_keys: 0 });
      const ready = await t.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.redis.ok).toBe(false);
    } finally {
      await t.close();
      await db.drop();
    }
  });

  it('withdraws the rows when Redis dies between the ping and the enqueue', async () => {
    const real = createJobQueue((await testApp(db)).config);
    const flaky: JobQueue = {
      ...real,
      ping: () => real.ping(),
      enqueue: async () => {
        throw new (await import('../../core/errors.js')).ServiceUnavailableError('enqueue: the job queue (Redis) is unreachable (test)', 'queue_unavailable');
      },
    };
    const t = await testApp(db, {}, { queue: flaky });
    try {
      const { body, contentType } = uploadBody(sampleMetadata(), [{ data: await jpegPhoto(800, 600, 5) }]);
      const res = await t.inject({ method: 'POST', url: '/v1/inspections', payload: body, headers: { 'content-type': contentType, 'idempotency-key': 'k-flaky' } });
      expect(res.statusCode).toBe(503);
      const counts = await rowCounts(db.handle.db);
      expect(counts).toMatchObject({ inspections: 0, views: 0, pieces: 0, idempotency_keys: 0 });
      const audit = await db.handle.db.selectFrom('audit_events').select('action').where('subject_type', '=', 'inspection').orderBy('seq').execute();
      expect(audit.map((a) => a.action)).toEqual(['inspection.upload', 'inspection.upload_withdrawn']);
    } finally {
      await t.close();
      await db.drop();
    }
  });
});

describe.skipIf(skipUnless(redisUp, 'Redis'))('health, readiness, models, metrics and OpenAPI', () => {
  let db: TestDatabase;
  let t: TestApp;
  beforeAll(async () => {
    db = await sqliteTestDatabase();
    t = await testApp(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('is live and ready with Redis, the database and a model', async () => {
    expect((await t.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ ok: true });
    const ready = await t.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode, ready.body).toBe(200);
    expect(ready.json().checks.models.detail).toContain('loupe-fixture@1.0.0');
  });

  it('lists the available models', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/models' });
    expect(res.statusCode).toBe(200);
    expect(res.json().available[0]).toMatchObject({ id: 'loupe-fixture', version: '1.0.0', active: true, problem: null });
  });

  it('exposes Prometheus metrics: queue depth, inspections by verdict, stage durations, HTTP latency', async () => {
    await t.inject({ method: 'GET', url: '/healthz' });
    const res = await t.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    for (const name of ['loupe_queue_jobs', 'loupe_queue_up 1', 'loupe_http_request_duration_seconds_bucket', 'loupe_job_stage_seconds']) {
      expect(res.body).toContain(name);
    }
    expect(res.body).toMatch(/loupe_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+/);
  });

  it('serves the OpenAPI document at /docs, with the multipart upload described', async () => {
    const res = await t.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    const post = doc.paths['/v1/inspections'].post;
    expect(Object.keys(post.requestBody.content)).toEqual(['multipart/form-data']);
    expect(post.requestBody.content['multipart/form-data'].schema.properties.metadata.properties.metal.enum).toContain('pt950');
    expect(doc.paths['/v1/inspections/{id}'].get.responses['200']).toBeDefined();
    expect((await t.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('answers unknown routes with 404 and a hint', async () => {
    const res = await t.inject({ method: 'GET', url: '/v2/whatever' });
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toContain('/docs');
  });
});
