import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadMetadata } from '../../core/inspection.schema.js';
import { auditDal } from '../../core/store/audit-dal.js';
import { isUniqueViolation } from '../../core/store/db.js';
import { findingsDal } from '../../core/store/findings-dal.js';
import { idempotencyDal } from '../../core/store/idempotency-dal.js';
import { inspectionsDal, type NewView } from '../../core/store/inspections-dal.js';
import { migrateToLatest } from '../../core/store/migrate.js';
import { modelsDal } from '../../core/store/models-dal.js';
import { DATABASES, type TestDatabase } from './support/databases.js';
import { postgresAnswers, skipUnless } from './support/env.js';
import { fakeReport } from './support/report-fixture.js';

const pgUp = await postgresAnswers();

const meta = (pieceId: string, extra: Partial<UploadMetadata> = {}): UploadMetadata => ({
  pieceId,
  profile: 'ring',
  metal: 'au750_yellow',
  casting: { tree: 'T-17', flask: 'F2' },
  stationId: 'qc-1',
  views: [{ view: 'top', mmPerPx: 0.01 }, { view: 'side' }],
  ...extra,
});
const views: NewView[] = [
  { view: 'top', photoSha256: 'a'.repeat(64), photoType: 'jpeg', width: 800, height: 600, bytes: 1234, fileName: 'top.jpg', mmPerPx: 0.01 },
  { view: 'side', photoSha256: 'c'.repeat(64), photoType: 'png', width: 800, height: 600, bytes: 999, fileName: null, mmPerPx: null },
];

for (const { name, create } of DATABASES) {
  describe.skipIf(name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'))(`store on ${name}`, () => {
    let tdb: TestDatabase;
    beforeAll(async () => {
      tdb = await create();
    });
    afterAll(async () => {
      await tdb?.drop();
    });

    async function insert(pieceId: string, extra: Partial<UploadMetadata> = {}, now?: string) {
      const id = randomUUID();
      await tdb.handle.db.transaction().execute((trx) => inspectionsDal(tdb.handle.db).insert(trx, { id, metadata: meta(pieceId, extra), views, now }));
      return id;
    }

    it('runs migrations again without change', async () => {
      expect(await migrateToLatest(tdb.handle)).toEqual([]);
    });

    // PostgreSQL only: SQLite has one schema per file.
    if (name === 'postgres') it("migrates when another run's schema vanishes while Kysely lists every schema's tables", async () => {
      // Fault injected into the migrator's first read of its tables: PostgreSQL's answer when a parallel run drops its
      // schema while Kysely's introspector reads every schema's tables (on a fresh schema, which this one is not).
      for (const code of ['3F000', '42P01']) {
        let thrown = 0;
        const vanishing = {
          transformQuery: (args: { node: unknown }) => {
            if (thrown === 0 && JSON.stringify(args.node, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes('kysely_migration')) {
              thrown++;
              throw Object.assign(new Error('schema "loupe_t_gone" does not exist'), { code });
            }
            return args.node as never;
          },
          transformResult: async (args: { result: unknown }) => args.result as never,
        };
        const fresh = await create(); // migrated: the run below only checks, which is where Kysely lists the tables
        try {
          const db = fresh.handle.db.withPlugin(vanishing);
          expect(await migrateToLatest({ ...fresh.handle, db }), code).toEqual([]);
          expect(thrown, code).toBe(1);
        } finally {
          await fresh.drop();
        }
      }
    });

    it('stores an inspection with its views and reads it back parsed', async () => {
      const id = await insert('P-1');
      const got = await inspectionsDal(tdb.handle.db).get(id);
      expect(got).toMatchObject({ id, pieceId: 'P-1', status: 'queued', verdict: null, tree: 'T-17', attempts: 0 });
      expect(got!.metadata.casting?.flask).toBe('F2');
      expect(got!.views.map((v) => [v.n, v.view, v.photo.sha256.slice(0, 1), v.mmPerPx])).toEqual([
        [0, 'top', 'a', 0.01],
        [1, 'side', 'c', null],
      ]);
      expect(got!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    });

    it('completes an inspection idempotently: a second completion leaves one set of findings', async () => {
      const id = await insert('P-2');
      const dal = inspectionsDal(tdb.handle.db);
      const report = fakeReport({ porous: true });
      const completion = {
        verdict: 'fail' as const,
        summary: { verdict: 'fail' as const, reasons: ['top: porosity fail'], missingViews: [], profile: report.profile, models: report.models, timingsMs: { inference: 50 } },
        views: [
          { n: 0, verdict: 'fail' as const, report },
          { n: 1, verdict: 'pass' as const, report: fakeReport({ view: 'side' }) },
        ],
        findings: [
          { viewN: 0, family: 'porosity', kind: 'gas_void', severity: null, confidence: 0.9, sizeMm: 0.28, areaMm2: 0.06, bbox: [100, 100, 130, 128] as [number, number, number, number], measurements: { cx: 115 } },
          { viewN: 0, family: 'polish', kind: 'scratch', severity: 0.4, confidence: 0.7, sizeMm: 1.2, areaMm2: null, bbox: null, measurements: {} },
        ],
      };
      await dal.complete(id, completion);
      await dal.complete(id, completion);
      const findings = await findingsDal(tdb.handle.db).ofInspection(id);
      expect(findings.map((f) => [f.kind, f.sizeMm, f.bbox?.[0] ?? null])).toEqual([
        ['gas_void', 0.28, 100],
        ['scratch', 1.2, null],
      ]);
      const got = await dal.get(id);
      expect(got).toMatchObject({ status: 'done', verdict: 'fail' });
      expect(got!.views[0]!.report?.families.porosity.findings).toHaveLength(1);
      expect(await dal.markProcessing(id)).toBe(false);
      const audit = await auditDal(tdb.handle.db).ofSubject('inspection', id);
      expect(audit.map((a) => a.action)).toEqual(['inspection.verdict', 'inspection.verdict']);
    });

    it('pages newest first with a cursor and filters by verdict, tree, station and time', async () => {
      const dal = inspectionsDal(tdb.handle.db);
      const base = Date.parse('2030-01-01T00:00:00Z');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(await insert(`PG-${i}`, { stationId: 'qc-page', casting: { tree: i % 2 ? 'odd' : 'even' } }, new Date(base + i * 1000).toISOString()));
      }
      const seen: string[] = [];
      let cursor: Awaited<ReturnType<typeof dal.list>>['next'] = null;
      do {
        const page: Awaited<ReturnType<typeof dal.list>> = await dal.list({ stationId: 'qc-page' }, 2, cursor ?? undefined);
        seen.push(...page.items.map((i) => i.id));
        cursor = page.next;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
      expect((await dal.list({ stationId: 'qc-page', tree: 'odd' }, 10)).items).toHaveLength(2);
      const window = await dal.list({ stationId: 'qc-page', from: new Date(base + 1000).toISOString(), to: new Date(base + 3000).toISOString() }, 10);
      expect(window.items.map((i) => i.id)).toEqual([ids[2], ids[1]]);
      expect((await dal.list({ stationId: 'qc-page', verdict: 'pass' }, 10)).items).toHaveLength(0);
    });

    it('lists every inspection of a piece oldest first', async () => {
      const first = await insert('P-rework', {}, '2031-01-01T00:00:00.000Z');
      const second = await insert('P-rework', {}, '2031-01-02T00:00:00.000Z');
      expect((await inspectionsDal(tdb.handle.db).listByPiece('P-rework')).map((i) => i.id)).toEqual([first, second]);
    });

    it('refuses a second row for the same Idempotency-Key with a unique violation', async () => {
      const id = await insert('P-idem');
      const idem = idempotencyDal(tdb.handle.db);
      await tdb.handle.db.transaction().execute((trx) => idem.insert(trx, 'key-1', id, 'fp'));
      const err = await tdb.handle.db
        .transaction()
        .execute((trx) => idem.insert(trx, 'key-1', id, 'fp'))
        .catch((e: unknown) => e);
      expect(isUniqueViolation(err)).toBe(true);
      expect(await idem.find('key-1')).toEqual({ inspectionId: id, fingerprint: 'fp' });
    });

    it('removes an upload whose job could not be enqueued, piece included', async () => {
      const id = await insert('P-gone');
      const dal = inspectionsDal(tdb.handle.db);
      await tdb.handle.db.transaction().execute((trx) => dal.removeUnqueued(trx, id));
      expect(await dal.get(id)).toBeNull();
      expect(await dal.listByPiece('P-gone')).toEqual([]);
      const pieces = await tdb.handle.db.selectFrom('pieces').select('piece_id').where('piece_id', '=', 'P-gone').execute();
      expect(pieces).toEqual([]);
    });

    it('finds unfinished inspections for the sweeper and marks failures', async () => {
      const dal = inspectionsDal(tdb.handle.db);
      const id = await insert('P-sweep', {}, '2000-01-01T00:00:00.000Z');
      expect((await dal.unfinished('2000-01-02T00:00:00.000Z', 100)).map((r) => r.id)).toEqual([id]);
      await dal.markFailed(id, 'photo is corrupt');
      expect(await dal.get(id)).toMatchObject({ status: 'failed', failureReason: 'photo is corrupt' });
      expect(await dal.unfinished('2000-01-02T00:00:00.000Z', 100)).toEqual([]);
    });

    it('records loaded models once per version', async () => {
      const models = modelsDal(tdb.handle.db);
      const m = { id: 'loupe-seg', version: '1.0.0', sha256: 'd'.repeat(64), sizeBytes: 5_000_000_000, manifest: { id: 'loupe-seg' } };
      await models.recordLoaded([m]);
      await models.recordLoaded([m]);
      const list = await models.list();
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ id: 'loupe-seg', version: '1.0.0', sizeBytes: 5_000_000_000 });
    });
  });
}
