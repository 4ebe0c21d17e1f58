import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countsByGroupDay, withReportSession } from '../../core/reports/casting-query.js';
import { buildCastingReport } from '../../core/reports/casting-report.js';
import { reviewsDal } from '../../core/reports/reviews-dal.js';
import { findingIds, historyReport, recordInspection, type InspectionSpec } from '../../core/reports/seed-history.js';
import { reportsDb } from '../../core/reports/tables.js';
import type { Db } from '../../core/store/db.js';
import { rebuildAllFacts } from '../../core/store/inspection-facts-dal.js';
import { inspectionsDal, type Completion } from '../../core/store/inspections-dal.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, skipUnless } from '../core/support/env.js';
import { pore, seedFixture } from './support/history-fixture.js';

const pgUp = await postgresAnswers();
const DAY = '2025-04-07';
const at = (hh: number, mm = 0) => `${DAY}T${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:00.000Z`;
const PERIOD = { from: `${DAY}T00:00:00.000Z`, to: '2025-04-12T00:00:00.000Z' };

const spec = (pieceId: string, caster: string, when: string, verdict: InspectionSpec['verdict'], findings: InspectionSpec['findings']): InspectionSpec => ({
  pieceId,
  at: when,
  metal: 'ag925',
  casting: { tree: `T-${caster}`, caster },
  verdict,
  findings,
});

/** What the worker hands the store for a finished inspection of `s` (one view). */
function completion(s: InspectionSpec): Completion {
  const report = historyReport(s);
  return {
    verdict: s.verdict,
    summary: { verdict: s.verdict, reasons: [], missingViews: [], profile: report.profile, models: report.models, timingsMs: {} },
    views: [{ n: 0, verdict: s.verdict, report }],
    findings: s.findings.map((f) => ({ viewN: 0, family: f.family, kind: f.kind, severity: null, confidence: 0.9, sizeMm: f.sizeMm, areaMm2: null, bbox: [0, 0, 5, 5], measurements: {} })),
  };
}

/** Both summary tables, in a stable order. */
async function snapshot(store: Db) {
  const db = reportsDb(store);
  const facts = await db.selectFrom('inspection_facts').selectAll().orderBy('inspection_id').execute();
  const findings = await db
    .selectFrom('inspection_fact_findings')
    .selectAll()
    .orderBy('inspection_id')
    .orderBy('family')
    .orderBy('kind')
    .orderBy('size_mm')
    .execute();
  return { facts, findings };
}

async function factsOf(store: Db, inspectionId: string) {
  const row = await reportsDb(store).selectFrom('inspection_facts').selectAll().where('inspection_id', '=', inspectionId).executeTakeFirst();
  if (!row) return null;
  const n = (v: unknown) => Number(v);
  return {
    outcome: row.outcome,
    modelVersions: row.model_versions,
    firstJudged: n(row.first_judged),
    later: n(row.later),
    porosity: [n(row.porosity_confirmed), n(row.porosity_rejected), n(row.porosity_undecided), n(row.porosity_added)],
    findings: (
      await reportsDb(store).selectFrom('inspection_fact_findings').select(['family', 'kind', 'size_mm']).where('inspection_id', '=', inspectionId).orderBy('kind').orderBy('size_mm').execute()
    ).map((f) => [f.family, f.kind, f.size_mm === null ? null : Number(f.size_mm)]),
  };
}

/** The caster's single day row: pieces, defective, defects, outcome counts, first pass. */
async function dayOf(store: Db, caster: string) {
  const rows = await withReportSession(store, (db) => countsByGroupDay(db, { ...PERIOD, filters: { caster: [caster] }, scope: 'porosity' }, null));
  return rows.map((r) => ({ n: r.n, defective: r.defective, defects: r.defects, accepted: r.accepted, rework: r.rework, scrap: r.scrap, rejected: r.rejected, pending: r.pending, firstPass: r.firstPass }));
}

for (const { name, create } of DATABASES) {
  describe.skipIf(name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'))(`report summary upkeep on ${name}`, () => {
    let tdb: TestDatabase;
    let db: Db;
    beforeAll(async () => {
      tdb = await create();
      db = tdb.handle.db;
      await seedFixture(db);
    });
    afterAll(async () => {
      await tdb?.drop();
    });

    async function upload(pieceId: string, caster: string, when: string): Promise<string> {
      const id = randomUUID();
      await db.transaction().execute((trx) =>
        inspectionsDal(db).insert(trx, {
          id,
          now: when,
          metadata: { pieceId, profile: 'ring', metal: 'ag925', casting: { tree: `T-${caster}`, caster }, stationId: 'qc-1', views: [{ view: 'top', mmPerPx: 0.01 }] },
          views: [{ view: 'top', photoSha256: 'b'.repeat(64), photoType: 'jpeg', width: 800, height: 600, bytes: 1000, fileName: null, mmPerPx: 0.01 }],
        }),
      );
      return id;
    }

    it('writes the summary when an inspection completes, and rewrites it (no duplicates) when the job runs again', async () => {
      const id = await recordInspection(db, spec('S1', 'C1', at(8), 'fail', [pore('gas_void', 0.3), pore('pinhole', 0.1)]));
      expect(await factsOf(db, id)).toEqual({
        outcome: 'reject',
        modelVersions: null,
        firstJudged: 1,
        later: 0,
        porosity: [0, 0, 2, 0],
        findings: [
          ['porosity', 'gas_void', 0.3],
          ['porosity', 'pinhole', 0.1],
        ],
      });
      expect(await dayOf(db, 'C1')).toEqual([{ n: 1, defective: 1, defects: 2, accepted: 0, rework: 0, scrap: 0, rejected: 1, pending: 0, firstPass: 0 }]);

      // The worker's job delivered twice, the second time with one finding: one row, one finding.
      await inspectionsDal(db).complete(id, completion(spec('S1', 'C1', at(8), 'review', [pore('pinhole', 0.12)])));
      expect(await factsOf(db, id)).toMatchObject({ outcome: 'pending', porosity: [0, 0, 1, 0], findings: [['porosity', 'pinhole', 0.12]] });
      expect(await reportsDb(db).selectFrom('inspection_facts').select('inspection_id').where('piece_id', '=', 'S1').execute()).toHaveLength(1);
    });

    it("follows every inspector decision: rejected findings leave, added ones count, the disposition replaces the model's verdict", async () => {
      const rv = reviewsDal(db);
      const id = await recordInspection(db, spec('S2', 'C2', at(9), 'fail', [pore('gas_void', 0.25), pore('pinhole', 0.08)]));
      const [big, small] = findingIds(id, 2) as [string, string];
      expect(await dayOf(db, 'C2')).toEqual([{ n: 1, defective: 1, defects: 2, accepted: 0, rework: 0, scrap: 0, rejected: 1, pending: 0, firstPass: 0 }]);

      await rv.reviewFinding({ inspectionId: id, findingId: big, decision: 'rejected', reviewerKeyId: 'k' });
      await rv.reviewFinding({ inspectionId: id, findingId: small, decision: 'rejected', reviewerKeyId: 'k' });
      expect(await factsOf(db, id)).toMatchObject({ outcome: 'reject', modelVersions: 'loupe-seg@1.0.0', porosity: [0, 2, 0, 0], findings: [] });
      await rv.setDisposition({ inspectionId: id, disposition: 'accept', reviewerKeyId: 'k' });
      expect(await dayOf(db, 'C2')).toEqual([{ n: 1, defective: 0, defects: 0, accepted: 1, rework: 0, scrap: 0, rejected: 0, pending: 0, firstPass: 1 }]);

      // Changing their mind: one finding confirmed after all, a missed pore drawn, then scrapped.
      await rv.reviewFinding({ inspectionId: id, findingId: big, decision: 'confirmed', reviewerKeyId: 'k' });
      const added = await rv.addMissedFinding({ inspectionId: id, viewN: 0, family: 'porosity', kind: 'pinhole', bbox: [1, 1, 4, 4], sizeMm: 0.06, reviewerKeyId: 'k' });
      await rv.setDisposition({ inspectionId: id, disposition: 'scrap', reviewerKeyId: 'k' });
      expect(await factsOf(db, id)).toMatchObject({
        outcome: 'scrap',
        porosity: [1, 1, 0, 1],
        findings: [
          ['porosity', 'gas_void', 0.25],
          ['porosity', 'pinhole', 0.06],
        ],
      });
      expect(await dayOf(db, 'C2')).toEqual([{ n: 1, defective: 1, defects: 2, accepted: 0, rework: 0, scrap: 1, rejected: 0, pending: 0, firstPass: 0 }]);

      expect(await rv.removeMissedFinding(id, added)).toBe(true);
      await rv.setDisposition({ inspectionId: id, disposition: 'rework', rework: 'polish', reviewerKeyId: 'k' });
      expect(await dayOf(db, 'C2')).toEqual([{ n: 1, defective: 1, defects: 1, accepted: 0, rework: 1, scrap: 0, rejected: 0, pending: 0, firstPass: 0 }]);
    });

    it('counts a queued re-inspection as a later look at once, and a failed one as none', async () => {
      const first = await recordInspection(db, spec('S3', 'C3', at(10), 'pass', []));
      expect(await dayOf(db, 'C3')).toMatchObject([{ n: 1, accepted: 1, firstPass: 1 }]);
      const again = await upload('S3', 'C3', at(15));
      expect(await factsOf(db, first)).toMatchObject({ firstJudged: 1, later: 1 });
      expect(await factsOf(db, again)).toBeNull();
      expect(await dayOf(db, 'C3')).toMatchObject([{ n: 1, accepted: 1, firstPass: 0 }]);
      await inspectionsDal(db).markFailed(again, 'photo unreadable');
      expect(await factsOf(db, first)).toMatchObject({ later: 0 });
      expect(await dayOf(db, 'C3')).toMatchObject([{ n: 1, firstPass: 1 }]);
    });

    it('moves the piece to an earlier retake once an inspector dispositions it (the retake then judged the piece)', async () => {
      const retake = await recordInspection(db, spec('S4', 'C4', at(11), 'retake', [pore('pinhole', 0.09)]));
      const pass = await recordInspection(db, spec('S4', 'C4', at(11, 10), 'pass', []));
      expect(await factsOf(db, retake)).toMatchObject({ firstJudged: 0, later: 1 });
      expect(await factsOf(db, pass)).toMatchObject({ firstJudged: 1, later: 0, findings: [] });
      await reviewsDal(db).setDisposition({ inspectionId: retake, disposition: 'rework', rework: 'polish', reviewerKeyId: 'k' });
      expect(await factsOf(db, retake)).toMatchObject({ firstJudged: 1, later: 1, outcome: 'rework', findings: [['porosity', 'pinhole', 0.09]] });
      expect(await factsOf(db, pass)).toMatchObject({ firstJudged: 0, findings: [] });
      expect(await dayOf(db, 'C4')).toEqual([{ n: 1, defective: 1, defects: 1, accepted: 0, rework: 1, scrap: 0, rejected: 0, pending: 0, firstPass: 0 }]);
    });

    it('stays consistent when a completion and a re-inspection upload of the same piece commit at the same time', async () => {
      // The first inspection's completion has written its summary but not committed when the re-inspection is
      // uploaded: the upload's upkeep must wait for it and then see it (on PostgreSQL, the piece's row lock), or the
      // first look would stay "never inspected again".
      const dal = inspectionsDal(db);
      const first = await upload('S5', 'C5', at(12));
      let wrote!: () => void;
      let commit!: () => void;
      const written = new Promise<void>((r) => (wrote = r));
      const gate = new Promise<void>((r) => (commit = r));
      const completing = dal.complete(first, completion(spec('S5', 'C5', at(12), 'pass', [])), async () => {
        wrote();
        await gate;
      });
      await written;
      const uploading = upload('S5', 'C5', at(16));
      await new Promise((r) => setTimeout(r, 300));
      commit();
      await Promise.all([completing, uploading]);
      expect(await factsOf(db, first)).toMatchObject({ firstJudged: 1, later: 1, outcome: 'accept' });
    });

    it("files an inspection under its UTC day whatever the writer's session time zone, and leaves that setting alone", async () => {
      const id = await recordInspection(db, spec('S6', 'C6', '2025-04-08T23:30:00.000Z', 'review', [pore('pinhole', 0.07)]));
      const tz = await reportsDb(db).transaction().execute(async (trx) => {
        // Kiritimati is UTC+14: 23:30 UTC is already the next day's 13:30 there.
        if (name === 'postgres') await sql`set local time zone 'Pacific/Kiritimati'`.execute(trx);
        await reviewsDal(db).setDisposition({ inspectionId: id, disposition: 'accept', reviewerKeyId: 'k' }, trx);
        return name === 'postgres' ? (await sql<{ tz: string }>`select current_setting('TimeZone') as tz`.execute(trx)).rows[0]?.tz : null;
      });
      if (name === 'postgres') expect(tz).toBe('Pacific/Kiritimati');
      const row = await reportsDb(db).selectFrom('inspection_facts').select(['day', 'outcome']).where('inspection_id', '=', id).executeTakeFirstOrThrow();
      expect(row).toEqual({ day: '2025-04-08', outcome: 'accept' });
    });

    it('holds exactly what a rebuild from scratch (the migration backfill) computes, and the report reads the same', async () => {
      const report = async () => {
        const r = await buildCastingReport(db, { from: '2025-03-01T00:00:00.000Z', to: '2025-05-01T00:00:00.000Z', groupBy: 'caster', interval: 'day', scope: 'all' }, new Date(0));
        return { ...r, timingsMs: {} };
      };
      const kept = await snapshot(db);
      const before = await report();
      expect(kept.facts.length).toBeGreaterThan(10);
      await db.transaction().execute((trx) => rebuildAllFacts(trx));
      expect(await snapshot(db)).toEqual(kept);
      expect(await report()).toEqual(before);
    });
  });
}
