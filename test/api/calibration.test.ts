import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectJobFor } from '../../core/jobs.js';
import { inspectionsDal } from '../../core/store/inspections-dal.js';
import { createModelRegistry, inspect, loadProfiles, type ModelRegistry } from '../../pipeline/index.js';
import { inspectHandler } from '../../workers/handlers/inspect.handler.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, redisAnswers, skipUnless } from '../core/support/env.js';
import { checkerboardPhoto } from '../pipeline/support-checkerboard.js';
import { multipart, uploadBody } from './support/multipart.js';
import { jpegPhoto } from './support/photos.js';
import { FIXTURE_MODELS_DIR, sampleMetadata, testApp, type TestApp } from './support/test-app.js';

const redisUp = await redisAnswers();
const pgUp = await postgresAnswers();

for (const { name, create } of DATABASES) {
  const skip = skipUnless(redisUp, 'Redis') || (name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'));
  describe.skipIf(skip)(`station calibration on ${name}`, () => {
    let db: TestDatabase;
    let t: TestApp;
    let station: Awaited<ReturnType<TestApp['createKey']>>;
    let registry: ModelRegistry;

    beforeAll(async () => {
      db = await create();
      t = await testApp(db);
      station = await t.createKey('station', 'bench-3 camera', 'bench-3');
      registry = await createModelRegistry(FIXTURE_MODELS_DIR, { intraOpThreads: 1 });
    });
    afterAll(async () => {
      await registry?.close();
      await t?.close();
      await db?.drop();
    });

    const calibrate = async (stationId: string, fields: Record<string, string>, photo: Buffer, headers = station.auth) => {
      const { body, contentType } = multipart([
        ...Object.entries(fields).map(([name, value]) => ({ kind: 'field' as const, name, value })),
        { kind: 'file', name: 'photo', filename: 'board.jpg', contentType: 'image/jpeg', data: photo },
      ]);
      return t.app.inject({ method: 'POST', url: `/v1/stations/${stationId}/calibration`, payload: body, headers: { 'content-type': contentType, ...headers } });
    };

    it('stores the mm per pixel of a checkerboard photo for the station, with its date, and serves the newest', async () => {
      expect((await t.inject({ method: 'GET', url: '/v1/stations/bench-3/calibration' })).statusCode).toBe(404);
      const res = await calibrate('bench-3', { squareMm: '2.5', innerCorners: '9x6' }, await checkerboardPhoto({ squares: { x: 10, y: 7 }, pitchPx: 62.5, rotationDeg: 6 }));
      expect(res.statusCode, res.body).toBe(201);
      const cal = res.json();
      expect(Math.abs(cal.mmPerPx - 0.04) / 0.04).toBeLessThan(0.01);
      expect(cal).toMatchObject({ stationId: 'bench-3', squareMm: 2.5, innerCorners: { cols: 9, rows: 6 }, warnings: [], createdBy: 'station:bench-3 camera' });
      expect(Date.now() - Date.parse(cal.createdAt)).toBeLessThan(60_000);
      expect(await t.photos.exists(cal.photoSha256)).toBe(true);
      const got = await t.app.inject({ method: 'GET', url: '/v1/stations/bench-3/calibration', headers: station.auth });
      expect(got.json().id).toBe(cal.id);
    });

    it('uses the latest calibration for uploads without mm per pixel, and the report says so', async () => {
      const tilted = await calibrate('bench-3', { squareMm: '2', innerCorners: '9x6' }, await checkerboardPhoto({ squares: { x: 10, y: 7 }, pitchPx: 50, squashY: 0.93 }));
      expect(tilted.statusCode).toBe(201);
      expect(tilted.json().warnings.map((w: { code: string }) => w.code)).toContain('tilted');
      const latest = await calibrate('bench-3', { squareMm: '2', innerCorners: '9x6' }, await checkerboardPhoto({ squares: { x: 10, y: 7 }, pitchPx: 80, rotationDeg: -4 }));
      const cal = latest.json();

      const meta = sampleMetadata({ stationId: 'bench-3', pieceId: 'CAL-1', views: [{ view: 'top' }, { view: 'side', mmPerPx: 0.02 }] });
      const { body, contentType } = uploadBody(meta, [{ data: await jpegPhoto(640, 480, 71) }, { data: await jpegPhoto(640, 480, 72) }]);
      const up = await t.app.inject({ method: 'POST', url: '/v1/inspections', payload: body, headers: { 'content-type': contentType, ...station.auth } });
      expect(up.statusCode, up.body).toBe(202);
      const id = up.json().id as string;
      const got = (await t.inject({ method: 'GET', url: `/v1/inspections/${id}` })).json();
      expect(got.views[0]).toMatchObject({ mmPerPx: cal.mmPerPx, mmPerPxSource: 'calibration', calibrationId: cal.id });
      expect(got.views[1]).toMatchObject({ mmPerPx: 0.02, mmPerPxSource: 'given', calibrationId: null });

      // The job carries the source; the pipeline puts it in the report.
      const dal = inspectionsDal(db.handle.db);
      const job = inspectJobFor((await dal.get(id))!);
      expect(job.views[0]).toMatchObject({ mmPerPx: cal.mmPerPx, mmPerPxSource: 'calibration' });
      const handler = inspectHandler({
        inspections: dal,
        photos: t.photos,
        profiles: loadProfiles({ env: {} }),
        inspectPhoto: async (bytes, metadata, profile) => {
          const l = await registry.lease();
          try {
            return await inspect(bytes, metadata, profile, { models: l.models });
          } finally {
            l.release();
          }
        },
        log: { info() {}, warn() {} },
      });
      await handler({ id, data: job, attemptsMade: 0, opts: { attempts: 1 } } as never);
      const done = (await t.inject({ method: 'GET', url: `/v1/inspections/${id}` })).json();
      expect(done.status).toBe('done');
      expect(done.views[0].report.photo).toMatchObject({ mmPerPx: cal.mmPerPx, mmPerPxSource: 'calibration' });
      expect(done.views[1].report.photo).toMatchObject({ mmPerPx: 0.02, mmPerPxSource: 'given' });

      // A station never calibrated: the profile's default scale, and the report says `default`.
      const other = uploadBody(sampleMetadata({ stationId: 'bench-9', pieceId: 'CAL-2', views: [{ view: 'top' }] }), [{ data: await jpegPhoto(640, 480, 73) }]);
      const up2 = await t.inject({ method: 'POST', url: '/v1/inspections', payload: other.body, headers: { 'content-type': other.contentType } });
      expect((await t.inject({ method: 'GET', url: `/v1/inspections/${up2.json().id}` })).json().views[0]).toMatchObject({ mmPerPx: null, mmPerPxSource: null });
    });

    it('refuses another station, a photo without the declared board, non-images and bad fields', async () => {
      const photo = await checkerboardPhoto({ squares: { x: 10, y: 7 }, pitchPx: 50 });
      const wrong = await calibrate('bench-4', { squareMm: '2', innerCorners: '9x6' }, photo);
      expect(wrong.statusCode).toBe(403);
      const manager = await t.createKey('manager', 'cal-manager');
      expect((await calibrate('bench-3', { squareMm: '2', innerCorners: '9x6' }, photo, manager.auth)).statusCode).toBe(403);
      const mismatch = await calibrate('bench-3', { squareMm: '2', innerCorners: '7x5' }, photo);
      expect(mismatch.statusCode).toBe(422);
      expect(mismatch.json().message).toMatch(/squares/);
      expect((await calibrate('bench-3', { squareMm: '2', innerCorners: '9x6' }, Buffer.from('%PDF nope'))).statusCode).toBe(415);
      const bad = await calibrate('bench-3', { squareMm: '-1', innerCorners: 'nine' }, photo);
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/squareMm/);
    });
  });
}
