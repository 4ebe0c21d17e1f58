import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { checkDataset } from '../../datasets/check.js';
import { exportReviews } from '../../datasets/export/export-reviews.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../api/support/test-app.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, redisAnswers, skipUnless } from '../core/support/env.js';
import { GATED } from '../core/support/report-fixture.js';
import { factFindings, GREY, seedGated } from './support/gated.js';

const redisUp = await redisAnswers();
const pgUp = await postgresAnswers();

for (const { name, create } of DATABASES) {
  const skip = skipUnless(redisUp, 'Redis') || (name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'));
  describe.skipIf(skip)(`findings below their gate on ${name}: marked, not counted, not drawn, reviewable`, () => {
    let tdb: TestDatabase;
    let t: TestApp;
    let inspector: Awaited<ReturnType<TestApp['createKey']>>;
    const ids: Record<'stated' | 'absent', string> = { stated: '', absent: '' };
    let unlocatedId = '';

    beforeAll(async () => {
      tdb = await create();
      t = await testApp(tdb);
      inspector = await t.createKey('inspector', 'ines');
      ids.stated = (await seedGated(tdb.handle.db, t, 'P-GATE-NEW', 'stated')).id;
      ids.absent = (await seedGated(tdb.handle.db, t, 'P-GATE-OLD', 'absent')).id;
      // As a model fine-tuned on photos labelled per image flags a piece: porosity over its gate with no pore outlined,
      // and tool marks over theirs with none outlined either. The scratch stays outlined, the haze below its gate.
      unlocatedId = (
        await seedGated(tdb.handle.db, t, 'P-IMAGE-ONLY', 'stated', (r) => ({
          ...r,
          families: {
            ...r.families,
            porosity: { ...r.families.porosity, findings: [], mask: null, scoreAt: { cx: 400, cy: 300 } },
            polish: {
              ...r.families.polish,
              kindScores: { ...r.families.polish.kindScores, tool_mark: 0.7 },
              kindScoresAt: { scratch: { cx: 480, cy: 302 }, haze: { cx: 280, cy: 470 }, tool_mark: { cx: 600, cy: 100 }, orange_peel: null },
            },
          },
        }))
      ).id;
    });
    afterAll(async () => {
      await t?.close();
      await tdb?.drop();
    });

    it('says in the inspection body which findings counted, also for a report stored before the flag existed', async () => {
      for (const id of [ids.stated, ids.absent]) {
        const body = (await t.inject({ method: 'GET', url: `/v1/inspections/${id}` })).json();
        const fams = body.views[0].report.families;
        expect(fams.porosity.findings.map((f: { belowGate: boolean }) => f.belowGate)).toEqual([false]);
        expect(fams.polish.findings.map((f: { kind: string; belowGate: boolean }) => [f.kind, f.belowGate])).toEqual([
          ['scratch', false],
          ['haze', true],
        ]);
      }
    });

    it('keeps below-gate findings out of the findings rows, the queue counts and the trend summary', async () => {
      const q = (await t.inject({ method: 'GET', url: '/v1/review/queue', headers: inspector.auth })).json();
      for (const item of q.items) expect(item.findings, item.pieceId).toEqual(item.pieceId === 'P-IMAGE-ONLY' ? { porosity: 1, polish: 2 } : { porosity: 1, polish: 1 });
      expect((await t.inject({ method: 'GET', url: '/v1/review/queue?family=polish', headers: inspector.auth })).json().items).toHaveLength(3);
      for (const id of [ids.stated, ids.absent]) expect(await factFindings(tdb.handle.db, id)).toEqual(['polish/scratch', 'porosity/gas_void']);
    });

    it('makes a flag with nothing outlined a finding: listed with where its score was read, queued, counted, reviewable', async () => {
      const state = (await t.inject({ method: 'GET', url: `/v1/inspections/${unlocatedId}/review`, headers: inspector.auth })).json();
      type Row = { id: string; family: string; kind: string; bbox: number[]; sizeMm: number | null; confidence: number; tolerance: unknown; measurements: Record<string, unknown> };
      const rows = state.findings as Row[];
      expect(rows.map((f) => `${f.family}/${f.kind}`)).toEqual(['polish/scratch', 'porosity/casting_defect', 'polish/tool_mark']);
      const [, porosity, toolMark] = rows;
      // A square of 64 px (4 % of 800, at least 64) around where the score was read; no size, no tolerance to hold it to.
      expect(porosity).toMatchObject({ bbox: [368, 268, 432, 332], sizeMm: null, confidence: 0.9, tolerance: null, measurements: { unlocated: true, score: 0.9, gate: 0.5, cx: 400, cy: 300 } });
      expect(toolMark).toMatchObject({ bbox: [568, 68, 632, 132], measurements: { unlocated: true, score: 0.7, gate: 0.5, cx: 600, cy: 100 } });
      // Where a finding counted, or the kind stayed below its gate, there is no such row.
      for (const id of [ids.stated, ids.absent]) {
        const other = (await t.inject({ method: 'GET', url: `/v1/inspections/${id}/review`, headers: inspector.auth })).json();
        expect(other.findings.some((f: Row) => f.measurements.unlocated)).toBe(false);
      }
      // The queue filtered by porosity finds the piece, and the trend summary counts its porosity.
      const byPorosity = (await t.inject({ method: 'GET', url: '/v1/review/queue?family=porosity', headers: inspector.auth })).json();
      expect(byPorosity.items.map((i: { pieceId: string }) => i.pieceId)).toContain('P-IMAGE-ONLY');
      expect(await factFindings(tdb.handle.db, unlocatedId)).toEqual(['polish/scratch', 'polish/tool_mark', 'porosity/casting_defect']);

      // The inspector confirms the porosity flag and rejects the tool-mark one: exported, porosity is a label of the
      // whole photo (no box, no mask), the tool mark a negative, and the trend summary drops it.
      const r = await t.inject({
        method: 'POST',
        url: `/v1/inspections/${unlocatedId}/review`,
        headers: inspector.auth,
        payload: { findings: [{ findingId: porosity!.id, decision: 'confirmed' }, { findingId: toolMark!.id, decision: 'rejected' }], disposition: { disposition: 'scrap' } },
      });
      expect(r.statusCode, r.body).toBe(200);
      expect(await factFindings(tdb.handle.db, unlocatedId)).toEqual(['polish/scratch', 'porosity/casting_defect']);
      const out = await mkdtemp(join(tmpdir(), 'loupe-unlocated-export-'));
      try {
        const { entries } = await exportReviews({ db: tdb.handle.db, photos: t.photos, out });
        expect(entries).toHaveLength(1);
        const e = entries[0]!;
        expect(e.labels).toEqual({ porosity: true, stone_spacing: false, polish: true });
        expect(e.defects.map((d) => `${d.family}/${d.kind}`)).toEqual(['polish/scratch']);
        expect(e.masks.porosity).toBeNull();
        expect(e.labelLevel).toBe('image');
        expect((e as { negatives?: Array<{ kind: string; unlocated?: boolean }> }).negatives).toEqual([expect.objectContaining({ kind: 'tool_mark', unlocated: true })]);
        const check = await checkDataset(out, { deep: true });
        expect(check.problems.filter((p) => p.severity === 'error')).toEqual([]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    });

    it('lists below-gate findings apart on the review state, with the score and the gate it missed', async () => {
      const state = (await t.inject({ method: 'GET', url: `/v1/inspections/${ids.stated}/review`, headers: inspector.auth })).json();
      expect(state.findings.map((f: { kind: string }) => f.kind)).toEqual(['gas_void', 'scratch']);
      expect(state.belowGate).toEqual([
        { viewN: 0, family: 'polish', kind: 'haze', bbox: [...GATED.haze], sizeMm: null, areaMm2: 31.8, confidence: 0.55, score: 0.3, gate: 0.6 },
      ]);
      // A stored report without kind gates is held to the family's gate (the lowest of the kinds').
      const old = (await t.inject({ method: 'GET', url: `/v1/inspections/${ids.absent}/review`, headers: inspector.auth })).json();
      expect(old.belowGate.map((b: { kind: string; gate: number }) => [b.kind, b.gate])).toEqual([['haze', 0.5]]);
    });

    it('does not draw them on the overlay', async () => {
      for (const id of [ids.stated, ids.absent]) {
        const res = await t.inject({ method: 'GET', url: `/v1/inspections/${id}/views/0/overlay.png` });
        expect(res.statusCode, res.body).toBe(200);
        const { data } = await sharp(res.rawPayload).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        const px = (x: number, y: number) => [...data.subarray((y * 800 + x) * 3, (y * 800 + x) * 3 + 3)];
        const [x0, y0, x1, y1] = GATED.haze;
        for (const [x, y] of [[(x0 + x1) / 2, (y0 + y1) / 2], [x0 - 2, (y0 + y1) / 2], [x0 + 5, y0 + 5]] as const) expect(px(x, y)).toEqual([GREY, GREY, GREY]);
        expect(px(GATED.pore[0] - 2, (GATED.pore[1] + GATED.pore[3]) / 2)[0]).toBeGreaterThan(200);
      }
    });

    it('counts one in the trend summary once an inspector adds it as a missed defect', async () => {
      const r = await t.inject({
        method: 'POST',
        url: `/v1/inspections/${ids.stated}/review`,
        headers: inspector.auth,
        payload: { add: [{ viewN: 0, family: 'polish', kind: 'haze', bbox: [...GATED.haze], note: 'below the gate, but real' }] },
      });
      expect(r.statusCode, r.body).toBe(200);
      expect(await factFindings(tdb.handle.db, ids.stated)).toEqual(['polish/haze', 'polish/scratch', 'porosity/gas_void']);
    });
  });
}
