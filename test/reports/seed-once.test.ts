import { afterEach, describe, expect, it } from 'vitest';
import { seedDemoHistory } from '../../api/demo/history.js';
import { HISTORY_SEEDED, recordInspection, seedHistoryOnce } from '../../core/reports/seed-history.js';
import { auditDal } from '../../core/store/audit-dal.js';
import type { Db } from '../../core/store/db.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, skipUnless } from '../core/support/env.js';

const pgUp = await postgresAnswers();
const count = async (db: Db, table: 'pieces' | 'inspections') =>
  Number((await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

for (const { name, create } of DATABASES) {
  describe.skipIf(name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'))(`seeded history once per database on ${name}`, () => {
    let tdb: TestDatabase | undefined;
    afterEach(async () => {
      await tdb?.drop();
      tdb = undefined;
    });

    it('seeds a fresh database, records it in the audit trail, and writes nothing the second time', async () => {
      tdb = await create();
      const db = tdb.handle.db;
      const first = await seedHistoryOnce(db, { days: 3, piecesPerCasterDay: 2, alerts: true });
      expect(first.status).toBe('seeded');
      const pieces = await count(db, 'pieces');
      const inspections = await count(db, 'inspections');
      expect(pieces).toBeGreaterThan(30);
      const events = await auditDal(db).list({ limit: 100_000, actor: 'seed-history' });
      expect(events.map((e) => e.action)).toEqual([HISTORY_SEEDED]);
      expect((await auditDal(db).verify()).ok).toBe(true);

      const again = await seedHistoryOnce(db, { days: 3, piecesPerCasterDay: 2, alerts: true });
      expect(again).toMatchObject({ status: 'already-seeded', firstDay: first.status === 'seeded' ? first.summary.firstDay : '', lastDay: first.status === 'seeded' ? first.summary.lastDay : '' });
      expect([await count(db, 'pieces'), await count(db, 'inspections')]).toEqual([pieces, inspections]);
    });

    it('never mixes a seeded history into a database with inspections of its own from before today', async () => {
      tdb = await create();
      const db = tdb.handle.db;
      await recordInspection(db, { pieceId: 'REAL-1', at: new Date(Date.now() - 5 * 86_400_000).toISOString(), metal: 'pt950', verdict: 'pass', findings: [] });
      const r = await seedHistoryOnce(db, { days: 3, piecesPerCasterDay: 2 });
      expect(r.status).toBe('has-history');
      expect(await count(db, 'pieces')).toBe(1);
    });
  });
}

describe('the demo', () => {
  let tdb: TestDatabase | undefined;
  afterEach(async () => {
    await tdb?.drop();
  });

  it('seeds the history for the casting report into its database on the first run only (even after uploads of today)', async () => {
    tdb = await DATABASES[0].create();
    // Samples uploaded by an earlier demo run today do not count as history.
    await recordInspection(tdb.handle.db, { pieceId: 'SAMPLE-1', at: new Date().toISOString(), metal: 'ag925', verdict: 'pass', findings: [] });
    await tdb.handle.close();
    const lines: string[] = [];
    await seedDemoHistory(tdb.target, (s) => lines.push(s), 2);
    await seedDemoHistory(tdb.target, (s) => lines.push(s), 2);
    expect(lines[0]).toMatch(/^History: seeding 2 days/);
    expect(lines[1]).toMatch(/^History: \d+ inspections of \d+ pieces, \d{4}-\d\d-\d\d … \d{4}-\d\d-\d\d, .* caster Dario's porosity drifts up/);
    expect(lines[2]).toMatch(/^History: already seeded \(\d{4}-\d\d-\d\d … \d{4}-\d\d-\d\d\); nothing written$/);
    expect(lines).toHaveLength(3);
  });
});
