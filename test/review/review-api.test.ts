import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewsDal } from '../../core/reports/reviews-dal.js';
import { auditDal } from '../../core/store/audit-dal.js';
import { checkDataset } from '../../datasets/check.js';
import { exportReviews, labelsOf } from '../../datasets/export/export-reviews.js';
import { loadManifest } from '../../datasets/manifest-io.js';
import { testApp, type TestApp } from '../api/support/test-app.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, redisAnswers, skipUnless } from '../core/support/env.js';
import { seedFlagged } from './support/flagged.js';

const redisUp = await redisAnswers();
const pgUp = await postgresAnswers();
const LOUPE = fileURLToPath(new URL('../../cli/bin/loupe.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LOUPE, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

for (const { name, create } of DATABASES) {
  const skip = skipUnless(redisUp, 'Redis') || (name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'));
  describe.skipIf(skip)(`review API on ${name}: queue, decisions with audit events, export`, () => {
    let tdb: TestDatabase;
    let t: TestApp;
    let inspector: Awaited<ReturnType<TestApp['createKey']>>;
    let station: Awaited<ReturnType<TestApp['createKey']>>;
    const ids: Record<string, string> = {};
    let out: string;

    beforeAll(async () => {
      tdb = await create();
      t = await testApp(tdb);
      inspector = await t.createKey('inspector', 'ines');
      station = await t.createKey('station', 'st-1', 'qc-1');
      const db = tdb.handle.db;
      ids.old = (await seedFlagged(db, t.photos, { pieceId: 'P-OLD', at: '2026-01-01T08:00:00.000Z', metal: 'au750_yellow', verdict: 'fail', sku: 'RING-A', stationId: 'qc-1', casting: { tree: 'T-1' }, findings: [{ family: 'porosity', kind: 'gas_void', sizeMm: 0.3 }, { family: 'porosity', kind: 'pinhole', sizeMm: 0.08 }] })).id;
      ids.polish = (await seedFlagged(db, t.photos, { pieceId: 'P-POL', at: '2026-01-02T08:00:00.000Z', metal: 'pt950', verdict: 'review', sku: 'RING-B', stationId: 'qc-2', casting: { tree: 'T-2' }, findings: [{ family: 'polish', kind: 'scratch', sizeMm: 1.2 }] })).id;
      ids.pass = (await seedFlagged(db, t.photos, { pieceId: 'P-PASS', at: '2026-01-03T08:00:00.000Z', metal: 'ag925', verdict: 'pass', findings: [] })).id;
      out = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-export-'));
    });
    afterAll(async () => {
      await t?.close();
      await tdb?.drop();
      if (out) await fs.rm(out, { recursive: true, force: true });
    });

    it('lists review and fail inspections oldest first, filtered by station, SKU, tree and family', async () => {
      const all = await t.inject({ method: 'GET', url: '/v1/review/queue', headers: inspector.auth });
      expect(all.statusCode).toBe(200);
      expect(all.json().items.map((i: { pieceId: string }) => i.pieceId)).toEqual(['P-OLD', 'P-POL']);
      expect(all.json().items[0].findings).toEqual({ porosity: 2 });
      expect(all.json().facets.stations).toEqual(['qc-1', 'qc-2']);
      for (const [q, piece] of [['family=polish', 'P-POL'], ['station=qc-1', 'P-OLD'], ['sku=RING-B', 'P-POL'], ['tree=T-1', 'P-OLD']] as const) {
        const r = await t.inject({ method: 'GET', url: `/v1/review/queue?${q}`, headers: inspector.auth });
        expect(r.json().items.map((i: { pieceId: string }) => i.pieceId), q).toEqual([piece]);
      }
      const asStation = await t.inject({ method: 'GET', url: '/v1/review/queue', headers: station.auth });
      expect(asStation.statusCode).toBe(403);
    });

    it('serves the pages, their scripts and the photo without an error', async () => {
      for (const url of ['/review', '/station', '/ui/review.js', '/ui/station.js', '/ui/ui.css']) {
        const r = await t.app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(200);
      }
      expect((await t.app.inject({ method: 'GET', url: '/review' })).headers['content-security-policy']).toMatch(/script-src 'self'/);
      const photo = await t.inject({ method: 'GET', url: `/v1/inspections/${ids.old}/views/0/photo`, headers: inspector.auth });
      expect(photo.statusCode).toBe(200);
      expect(photo.headers['content-type']).toBe('image/jpeg');
      expect((await t.app.inject({ method: 'GET', url: `/v1/inspections/${ids.old}/views/0/photo` })).statusCode).toBe(401);
    });

    it('records decisions with audit events naming the reviewer and the verdict’s model and profile versions', async () => {
      const state = (await t.inject({ method: 'GET', url: `/v1/inspections/${ids.old}/review`, headers: inspector.auth })).json();
      expect(state.findings).toHaveLength(2);
      expect(state.findings[0].tolerance).toMatchObject({ measure: 'diameter', unit: 'mm' });
      expect(state.next).toBe(ids.polish);
      const [gas, pin] = state.findings;
      const bad = await t.inject({ method: 'POST', url: `/v1/inspections/${ids.old}/review`, headers: inspector.auth, payload: { add: [{ viewN: 0, family: 'polish', kind: 'gas_void', bbox: [1, 1, 5, 5] }] } });
      expect(bad.statusCode).toBe(422);
      expect((await t.inject({ method: 'POST', url: `/v1/inspections/${ids.old}/review`, headers: inspector.auth, payload: {} })).statusCode).toBe(400);
      expect((await t.inject({ method: 'POST', url: `/v1/inspections/${ids.old}/review`, headers: station.auth, payload: { disposition: { disposition: 'accept' } } })).statusCode).toBe(403);

      const r = await t.inject({
        method: 'POST',
        url: `/v1/inspections/${ids.old}/review`,
        headers: inspector.auth,
        payload: {
          findings: [
            { findingId: gas.id, decision: 'confirmed' },
            { findingId: pin.id, decision: 'rejected' },
          ],
          add: [{ viewN: 0, family: 'polish', kind: 'scratch', bbox: [500, 300, 560, 312], sizeMm: 0.6 }],
          disposition: { disposition: 'rework', rework: 'recast', note: 'gas void on the shank' },
        },
      });
      expect(r.statusCode, r.body).toBe(200);
      const rv = await reviewsDal(tdb.handle.db).ofInspection(ids.old);
      expect(rv.header).toMatchObject({ disposition: 'rework', rework: 'recast', note: 'gas void on the shank', reviewer_key_id: inspector.id, model_versions: 'loupe-seg@1.0.0' });
      expect(rv.findings.map((f) => [f.finding_id, f.decision])).toEqual([[gas.id, 'confirmed'], [pin.id, 'rejected']]);
      expect(rv.added).toHaveLength(1);
      const events = (await auditDal(tdb.handle.db).ofSubject('inspection', ids.old)).filter((e) => e.action.startsWith('review.'));
      expect(events.map((e) => e.action)).toEqual(['review.finding', 'review.finding', 'review.missed_finding', 'review.disposition']);
      for (const e of events) {
        expect(e.actor).toBe('inspector:ines');
        expect(e.actorKeyId).toBe(inspector.id);
        expect(e.data).toMatchObject({ reviewer: 'inspector:ines', models: 'loupe-seg@1.0.0', profile: 'ring@0123456789ab', verdict: 'fail' });
      }
      // Decided pieces leave the pending queue.
      const q = (await t.inject({ method: 'GET', url: '/v1/review/queue', headers: inspector.auth })).json();
      expect(q.items.map((i: { pieceId: string }) => i.pieceId)).toEqual(['P-POL']);
    });

    it('exports the decisions as a manifest that passes dataset check and reads back with the same labels', async () => {
      // P-POL: its only finding rejected, nothing added: polish becomes a negative label.
      const s = (await t.inject({ method: 'GET', url: `/v1/inspections/${ids.polish}/review`, headers: inspector.auth })).json();
      await t.inject({ method: 'POST', url: `/v1/inspections/${ids.polish}/review`, headers: inspector.auth, payload: { findings: [{ findingId: s.findings[0].id, decision: 'rejected' }], disposition: { disposition: 'accept' } } });

      const result = await exportReviews({ db: tdb.handle.db, photos: t.photos, out });
      expect(result.entries).toHaveLength(2);
      const check = await checkDataset(out, { deep: true });
      expect(check.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(check.ok).toBe(true);
      const [old, pol] = result.entries;
      expect(old!.labels).toEqual({ porosity: true, stone_spacing: false, polish: true });
      expect(old!.defects.map((d) => [d.family, d.kind, (d as { review?: string }).review])).toEqual([
        ['porosity', 'gas_void', 'confirmed'],
        ['polish', 'scratch', 'added'],
      ]);
      expect((old as { negatives?: unknown[] }).negatives).toHaveLength(1);
      expect(old!.masks.porosity).not.toBeNull();
      expect(pol!.labels).toEqual({ porosity: false, stone_spacing: false, polish: false });
      expect(pol!.defects).toEqual([]);
      expect((pol as { negatives?: Array<{ kind: string }> }).negatives?.map((n) => n.kind)).toEqual(['scratch']);
      const reread = await loadManifest(out);
      expect(reread.map(labelsOf)).toEqual(result.entries.map(labelsOf));
      // --since after both reviews: nothing; the refusal to overwrite without force.
      await expect(exportReviews({ db: tdb.handle.db, photos: t.photos, out })).rejects.toThrow(/not empty/);
      const later = await exportReviews({ db: tdb.handle.db, photos: t.photos, out, since: new Date(Date.now() + 60_000).toISOString(), force: true });
      expect(later.entries).toEqual([]);
    });

    it('runs as `loupe dataset export-reviews`, and `loupe dataset check` accepts what it wrote', async () => {
      const cliOut = path.join(out, 'cli');
      const env = { ...process.env, ...t.env };
      const exported = await run(['dataset', 'export-reviews', '--out', cliOut, '--since', '2000-01-01'], env);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout).toMatch(/^2 photos of 2 reviewed inspections/);
      const checked = await run(['dataset', 'check', cliOut], env);
      expect(checked.code, checked.stderr).toBe(0);
      expect(checked.stdout).toMatch(/^ok: 2 entries/);
    });
  });
}
