import type { DatabaseTarget } from '../../core/config.schema.js';
import { seedHistoryOnce } from '../../core/reports/seed-history.js';
import { openDatabase } from '../../core/store/db.js';
import { migrateToLatest } from '../../core/store/migrate.js';

/** Days of seeded history the demo writes: the casting report's default period (the last 90 days) is full. */
export const DEMO_HISTORY_DAYS = 90;

/**
 * The casting report draws nothing without history, and the demo's few samples are one day's worth: the demo seeds
 * `loupe seed-history`'s 90 days (six casters, one drifting) into its database, once (`seedHistoryOnce`: a second
 * run finds the audit trail's record and writes nothing; a database with history of its own is left alone).
 */
export async function seedDemoHistory(target: DatabaseTarget, say: (s: string) => void, days = DEMO_HISTORY_DAYS): Promise<void> {
  const db = await openDatabase(target);
  try {
    await migrateToLatest(db);
    const t0 = performance.now();
    const tty = process.stdout.isTTY;
    const r = await seedHistoryOnce(db.db, {
      days,
      alerts: true,
      onDay: (d, n) => {
        if (d === 0) say(`History: seeding ${n} days of inspections for the casting report (once per database) ...`);
        if (tty && d % 5 === 0) process.stdout.write(`\r  day ${d + 1}/${n}`);
      },
    });
    if (tty && r.status === 'seeded') process.stdout.write('\r\x1b[K');
    if (r.status === 'seeded') {
      const s = r.summary;
      say(
        `History: ${s.inspections} inspections of ${s.pieces} pieces, ${s.firstDay} … ${s.lastDay}, in ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
          `caster ${s.driftCaster}'s porosity drifts up from ${s.driftFrom} (${r.alerts.length} alert(s) recorded)`,
      );
    } else if (r.status === 'already-seeded') {
      say(`History: already seeded (${r.firstDay} … ${r.lastDay}); nothing written`);
    } else {
      say(`History: the database has inspections since ${r.since.slice(0, 10)}; no synthetic history mixed into them`);
    }
  } finally {
    await db.close();
  }
}
