import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectJobFor } from '../../core/jobs.js';
import { createDirPhotoStore } from '../../core/photo-store/dir-photo-store.js';
import type { PhotoStore } from '../../core/photo-store/photo-store.js';
import type { JobQueue } from '../../core/queue.js';
import { findingsDal } from '../../core/store/findings-dal.js';
import { inspectionsDal } from '../../core/store/inspections-dal.js';
import { PipelineError } from '../../pipeline/errors.js';
import { createModelRegistry, inspect, loadProfiles, type ModelRegistry } from '../../pipeline/index.js';
import { inspectHandler, type InspectPhoto } from '../../workers/handlers/inspect.handler.js';
import { findingsOf } from '../../workers/handlers/findings.js';
import { pieceVerdict } from '../../workers/handlers/piece-verdict.js';
import { sweepOnce } from '../../workers/sweeper.js';
import { jpegPhoto } from '../api/support/photos.js';
import { FIXTURE_MODELS_DIR, sampleMetadata } from '../api/support/test-app.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { fakeReport, gatedReport } from '../core/support/report-fixture.js';

const silent = { info() {}, warn() {} };
const profiles = loadProfiles({ env: {} });

function fakeJob(data: unknown, attemptsMade = 0, attempts = 3): Job {
  return { id: (data as { inspectionId?: string }).inspectionId, data, attemptsMade, opts: { attempts } } as unknown as Job;
}

describe('inspect handler', () => {
  let db: TestDatabase;
  let dir: string;
  let photos: PhotoStore;
  let registry: ModelRegistry;
  let photoKey: string;

  beforeAll(async () => {
    db = await sqliteTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-h-'));
    photos = await createDirPhotoStore(dir);
    photoKey = (await photos.put(await jpegPhoto(1024, 768, 9))).key;
    registry = await createModelRegistry(FIXTURE_MODELS_DIR, { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await registry?.close();
    await db?.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function newInspection(views = [{ view: 'top', mmPerPx: 0.01 }], key = photoKey) {
    const id = randomUUID();
    const dal = inspectionsDal(db.handle.db);
    await db.handle.db.transaction().execute((trx) =>
      dal.insert(trx, {
        id,
        metadata: sampleMetadata({ pieceId: `H-${id.slice(0, 8)}`, views }) as never,
        views: views.map((v) => ({ view: v.view, photoSha256: key, photoType: 'jpeg', width: 1024, height: 768, bytes: 1, fileName: null, mmPerPx: v.mmPerPx ?? null })),
      }),
    );
    return inspectJobFor((await dal.get(id))!);
  }

  const realInspect: InspectPhoto = async (bytes, md, profile) => {
    const l = await registry.lease();
    try {
      return await inspect(bytes, md, profile, { models: l.models });
    } finally {
      l.release();
    }
  };
  const handler = (inspectPhoto: InspectPhoto) =>
    inspectHandler({ inspections: inspectionsDal(db.handle.db), photos, profiles, inspectPhoto, log: silent });

  it('runs the real pipeline and writes report, verdict and findings; a second run changes nothing', async () => {
    const job = await newInspection();
    const result = await handler(realInspect)(fakeJob(job));
    expect(result.outcome).toBe('done');
    const row = await inspectionsDal(db.handle.db).get(job.inspectionId);
    expect(row?.status).toBe('done');
    expect(row?.views[0]?.report?.photo.sha256).toBe(photoKey);
    // The ring profile requires top and oblique; only top was sent.
    expect(row?.summary?.missingViews).toEqual(['oblique']);
    expect(['review', 'fail', 'retake']).toContain(row?.verdict);
    expect(row?.summary?.timingsMs.inference).toBeGreaterThan(0);
    const n = await findingsDal(db.handle.db).count(job.inspectionId);
    expect(await handler(realInspect)(fakeJob(job))).toMatchObject({ outcome: 'already-finished' });
    expect(await findingsDal(db.handle.db).count(job.inspectionId)).toBe(n);
  });

  it('refuses job data that is not an InspectJob without retrying', async () => {
    await expect(handler(realInspect)(fakeJob({ inspectionId: 'nope', photos: 'bytes' }))).rejects.toBeInstanceOf(UnrecoverableError);
  });

  it('marks the inspection failed, without retry, when a photo cannot be decoded', async () => {
    const job = await newInspection();
    const corrupt: InspectPhoto = async () => {
      throw new PipelineError('corrupt_image', 'image data is corrupt: premature end of JPEG image');
    };
    await expect(handler(corrupt)(fakeJob(job))).rejects.toBeInstanceOf(UnrecoverableError);
    const row = await inspectionsDal(db.handle.db).get(job.inspectionId);
    expect(row).toMatchObject({ status: 'failed' });
    expect(row?.failureReason).toMatch(/premature end of JPEG/);
  });

  it('marks the inspection failed when its photo is missing from the store', async () => {
    const job = await newInspection([{ view: 'top', mmPerPx: 0.01 }], 'e'.repeat(64));
    await expect(handler(realInspect)(fakeJob(job))).rejects.toBeInstanceOf(UnrecoverableError);
    expect((await inspectionsDal(db.handle.db).get(job.inspectionId))?.failureReason).toMatch(/missing from the photo store/);
  });

  it('rethrows a transient error so BullMQ retries, and only marks failed on the last attempt', async () => {
    const job = await newInspection();
    const flaky: InspectPhoto = async () => {
      throw new Error('onnxruntime: out of memory');
    };
    await expect(handler(flaky)(fakeJob(job, 0, 3))).rejects.toThrow('out of memory');
    expect(await inspectionsDal(db.handle.db).get(job.inspectionId)).toMatchObject({ status: 'queued' });
    await expect(handler(flaky)(fakeJob(job, 2, 3))).rejects.toThrow('out of memory');
    expect(await inspectionsDal(db.handle.db).get(job.inspectionId)).toMatchObject({ status: 'failed' });
  });

  it('the sweeper re-enqueues an accepted inspection whose job the queue lost, and only that one', async () => {
    const lost = await newInspection();
    const waiting = await newInspection();
    const enqueued: string[] = [];
    const queue = {
      state: async (_n: string, id: string) => (id === lost.inspectionId ? 'missing' : 'waiting'),
      enqueue: async (_n: string, data: { inspectionId: string }, jobId: string) => {
        expect(jobId).toBe(data.inspectionId);
        enqueued.push(jobId);
      },
      failedReason: async () => null,
    } as unknown as JobQueue;
    const r = await sweepOnce({ inspections: inspectionsDal(db.handle.db), queue, graceMs: 0, log: silent });
    expect(enqueued).toContain(lost.inspectionId);
    expect(enqueued).not.toContain(waiting.inspectionId);
    expect(r.requeued).toContain(lost.inspectionId);
  });
});

describe('piece verdict over views', () => {
  it('is the worst view, and review when a required view is missing', () => {
    const pass = fakeReport({ verdict: 'pass' });
    const fail = fakeReport({ porous: true });
    expect(pieceVerdict([{ view: 'top', report: pass }, { view: 'side', report: pass }], ['top', 'side']).verdict).toBe('pass');
    expect(pieceVerdict([{ view: 'top', report: pass }], ['top', 'side'])).toMatchObject({ verdict: 'review', missingViews: ['side'] });
    const failed = pieceVerdict([{ view: 'top', report: fail }], ['top', 'side']);
    expect(failed.verdict).toBe('fail');
    expect(failed.reasons).toContain('top: porosity fail (1 finding(s))');
    expect(failed.reasons).toContain('missing required view: side');
  });

  it('counts in its reasons only the findings that counted, and writes no findings row for one below its gate', () => {
    for (const flags of ['stated', 'absent'] as const) {
      const report = gatedReport({ flags });
      expect(pieceVerdict([{ view: 'top', report }], ['top']).reasons).toContain('top: polish review (1 finding(s))');
      expect(findingsOf(0, report).map((f) => `${f.family}/${f.kind}`)).toEqual(['porosity/gas_void', 'polish/scratch']);
      expect(findingsOf(0, report).every((f) => !('belowGate' in f.measurements))).toBe(true);
    }
  });
});
