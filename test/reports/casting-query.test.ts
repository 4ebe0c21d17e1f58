import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSignals } from '../../core/reports/alerts.js';
import { countsByGroupDay, withReportSession } from '../../core/reports/casting-query.js';
import { buildCastingReport } from '../../core/reports/casting-report.js';
import { recordInspection } from '../../core/reports/seed-history.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, skipUnless } from '../core/support/env.js';
import { D1, D2, D3, PERIOD, pore, seedFixture } from './support/history-fixture.js';

const pgUp = await postgresAnswers();

for (const { name, create } of DATABASES) {
  describe.skipIf(name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'))(`casting report queries on ${name}`, () => {
    let tdb: TestDatabase;
    beforeAll(async () => {
      tdb = await create();
      await seedFixture(tdb.handle.db);
    });
    afterAll(async () => {
      await tdb?.drop();
    });

    it('counts each piece once at its first judged inspection, per group and UTC day, with outcomes and first pass', async () => {
      const rows = await withReportSession(tdb.handle.db, (db) => countsByGroupDay(db, { ...PERIOD, filters: {}, scope: 'porosity' }, 'caster'));
      const pick = (r: (typeof rows)[number]) => [r.group, r.day, r.n, r.defective, r.defects, r.accepted, r.rework, r.scrap, r.pending, r.firstPass];
      expect(rows.map(pick)).toEqual([
        // group, day, n, defective, defects, accepted, rework, scrap, pending, firstPass
        ['A', D1, 2, 1, 1, 1, 1, 0, 0, 1], // P1, P2
        ['A', D2, 1, 0, 0, 1, 0, 0, 0, 1], // P3 (finding rejected, accepted by the inspector)
        ['B', D1, 2, 0, 0, 2, 0, 0, 0, 1], // P4 (re-inspected later), P5 (the pass after the retake)
        ['B', D2, 2, 2, 4, 0, 0, 1, 1, 0], // P6 (pending), P7 (2 confirmed + 1 added, scrapped)
      ]);
    });

    it('filters by a dimension and by the period', async () => {
      const onlyA = await withReportSession(tdb.handle.db, (db) =>
        countsByGroupDay(db, { ...PERIOD, filters: { caster: ['A'] }, scope: 'porosity' }, null),
      );
      expect(onlyA.map((r) => [r.group, r.day, r.n])).toEqual([['all', D1, 2], ['all', D2, 1]]);
      const d2 = await withReportSession(tdb.handle.db, (db) =>
        countsByGroupDay(db, { from: `${D2}T00:00:00.000Z`, to: `${D3}T00:00:00.000Z`, filters: {}, scope: 'all' }, 'metal'),
      );
      expect(d2.map((r) => [r.group, r.n, r.defective, r.defects])).toEqual([['au750_yellow', 3, 2, 4]]);
    });

    it('builds the report: p-chart limits by group, first-pass yield with rework, Pareto, pore sizes, agreement per model version', async () => {
      const r = await buildCastingReport(tdb.handle.db, { ...PERIOD, groupBy: 'caster', interval: 'day' });
      // 7 pieces, 3 with porosity, 5 pores; FPY = {P1, P3, P5} / (7 − 1 pending).
      expect(r.overall).toMatchObject({ pieces: 7, defective: 3, defects: 5, pending: 1, firstPass: 3, rework: 1, scrap: 1 });
      expect(r.overall.p).toBeCloseTo(3 / 7, 10);
      expect(r.overall.u).toBeCloseTo(5 / 7, 10);
      expect(r.overall.firstPassYield).toBeCloseTo(0.5, 10);
      expect(r.groups.map((g) => [g.key, g.pieces, g.defective, g.firstPass, g.firstPassYield])).toEqual([
        ['A', 3, 1, 2, 2 / 3],
        ['B', 4, 2, 1, 1 / 3],
      ]);
      // p̄ = 3/7; A: n=3 → UCL 3/7 + 3√(3/7·4/7/3) > 1 → 1; B: n=4 → 3/7 + 3√(3/7·4/7/4) = 1.1709 → 1.
      const p = r.byGroup!.p;
      expect(p.centre).toBeCloseTo(3 / 7, 10);
      expect(p.points.map((x) => [x.key, x.n, x.count, x.ucl, x.lcl])).toEqual([
        ['A', 3, 1, 1, 0],
        ['B', 4, 2, 1, 0],
      ]);
      expect(p.points[0]!.sigma).toBeCloseTo(Math.sqrt(((3 / 7) * (4 / 7)) / 3), 10);
      // u: ū = 5/7; B: n=4, 4 defects → u = 1, UCL = 5/7 + 3√(5/7/4).
      expect(r.byGroup!.u.points[1]!.ucl).toBeCloseTo(5 / 7 + 3 * Math.sqrt(5 / 7 / 4), 10);

      expect(r.yield.map((y) => [y.key, y.pieces, y.decided, y.firstPass])).toEqual([
        [D1, 4, 4, 2],
        [D2, 3, 2, 1],
      ]);
      expect(r.pareto.map((x) => [x.kind, x.count])).toEqual([['pinhole', 3], ['gas_void', 2]]);
      expect(r.pareto.map((x) => x.cumulative)).toEqual([0.6, 1]);
      // 0.05 | 0.1, 0.12 | 0.2 | 0.3 in bins [0.05, 0.1), [0.1, 0.15), [0.2, 0.25), [0.3, 0.35).
      expect(r.poreSizes.counts.slice(0, 8)).toEqual([0, 1, 2, 0, 1, 0, 1, 0]);
      expect(r.poreSizes.n).toBe(5);
      expect(r.poreSizes.maxMm).toBeCloseTo(0.3, 10);
      expect(r.poreSizes.meanMm).toBeCloseTo((0.05 + 0.1 + 0.12 + 0.2 + 0.3) / 5, 10);
      expect(r.agreement.map((a) => [a.modelVersions, a.family, a.reviewedInspections, a.confirmed, a.rejected, a.missed, a.undecided])).toEqual([
        ['loupe-seg@1.0.0', 'porosity', 2, 1, 1, 0, 0],
        ['loupe-seg@2.0.0', 'porosity', 1, 2, 0, 1, 0],
      ]);
      expect(r.agreement[1]!.missedShare).toBeCloseTo(1 / 3, 10);
    });

    it('groups by week with the time buckets as the table rows', async () => {
      const r = await buildCastingReport(tdb.handle.db, { ...PERIOD, groupBy: 'week' });
      expect(r.byGroup).toBeNull();
      expect(r.groups.map((g) => [g.key, g.pieces])).toEqual([[D1, 7]]);
      expect(r.series.map((s) => s.group)).toEqual(['all']);
    });

    it('records a new signal once, notifies once, and finds nothing new when checked again', async () => {
      // Caster Q: 12 days × 4 pieces; days 1–4 clean, days 5–12 two porous pieces each → p̄ = 1/3, 8 points above.
      const day0 = Date.UTC(2025, 5, 1);
      for (let d = 0; d < 12; d++) {
        for (let k = 0; k < 4; k++) {
          const porous = d >= 4 && k < 2;
          await recordInspection(tdb.handle.db, {
            pieceId: `Q-${d}-${k}`,
            at: new Date(day0 + d * 86_400_000 + (9 + k) * 3_600_000).toISOString(),
            metal: 'pt950',
            casting: { tree: `TQ-${d}`, caster: 'Q' },
            verdict: porous ? 'fail' : 'pass',
            findings: porous ? [pore('gas_void', 0.25)] : [],
          });
        }
      }
      const sent: string[] = [];
      const opts = {
        now: new Date(day0 + 11 * 86_400_000 + 20 * 3_600_000),
        windowDays: 12,
        watches: [{ dimension: 'caster' as const, scope: 'porosity' as const, charts: ['p' as const] }],
        notify: async (a: { group: string; rule: string; startKey: string }) => void sent.push(`${a.group}/${a.rule}/${a.startKey}`),
      };
      const first = await checkSignals(tdb.handle.db, opts);
      expect(first.map((a) => [a.group, a.rule, a.startKey, a.pointKey, a.n])).toEqual([['Q', 'run-8-one-side', '2025-06-05', '2025-06-12', 4]]);
      expect(first[0]!.centre).toBeCloseTo(1 / 3, 10);
      expect(first[0]!.notifiedAt).not.toBeNull();
      expect(sent).toEqual(['Q/run-8-one-side/2025-06-05']);
      expect(await checkSignals(tdb.handle.db, opts)).toEqual([]);
      expect(sent).toHaveLength(1);
      const report = await buildCastingReport(tdb.handle.db, { from: '2025-06-01T00:00:00.000Z', to: '2025-06-13T00:00:00.000Z', groupBy: 'caster' });
      expect(report.alerts.map((a) => [a.group, a.rule, a.pointKey])).toEqual([['Q', 'run-8-one-side', '2025-06-12']]);
      const q = report.series.find((s) => s.group === 'Q')!;
      expect(q.p.points.filter((p) => p.signals.includes('run-8-one-side')).map((p) => p.key)).toEqual(['2025-06-12']);
    });
  });
}
