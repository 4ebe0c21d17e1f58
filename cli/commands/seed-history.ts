import type { Command } from 'commander';

/** `loupe seed-history`: a plausible, seeded inspection history for demos and tests, written through the store. */
export function register(program: Command): void {
  program
    .command('seed-history')
    .description(
      'Write a seeded history of inspections with casting context (trees, flasks, casters, alloys, setters, polishers, stations), ' +
        'inspector reviews and re-inspections into DATABASE_URL; one caster’s porosity drifts upward after a date. ' +
        'Once per database, and never into one with inspections of its own from before today',
    )
    .option('--days <n>', 'days of history, ending yesterday (UTC)', '90')
    .option('--seed <n>', 'random seed (same seed, same history)', '424242')
    .option('--per-caster-day <n>', 'pieces each caster casts per day (±2)', '16')
    .option('--drift-caster <name>', 'the caster whose porosity drifts (default: Dario)')
    .option('--drift-factor <x>', 'how many times the porosity rate rises', '4')
    .option('--no-alerts', 'do not check the charts for signals afterwards (by default new signals are recorded as alerts)')
    .action(async (opts: { days: string; seed: string; perCasterDay: string; driftCaster?: string; driftFactor: string; alerts: boolean }) => {
      const int = (name: string, v: string, min: number) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min} (got "${v}")`);
        return n;
      };
      let days: number;
      let seed: number;
      let perCasterDay: number;
      try {
        days = int('days', opts.days, 1);
        seed = int('seed', opts.seed, 0);
        perCasterDay = int('per-caster-day', opts.perCasterDay, 1);
      } catch (err) {
        console.error((err as Error).message);
        process.exitCode = 2;
        return;
      }
      const { loadConfig } = await import('../../core/config.schema.js');
      const { openDatabase } = await import('../../core/store/db.js');
      const { migrateToLatest } = await import('../../core/store/migrate.js');
      const { seedHistoryOnce } = await import('../../core/reports/seed-history.js');
      const config = loadConfig();
      const db = await openDatabase(config.database);
      try {
        await migrateToLatest(db);
        const t0 = performance.now();
        const r = await seedHistoryOnce(db.db, {
          days,
          seed,
          piecesPerCasterDay: perCasterDay,
          driftFactor: Number(opts.driftFactor),
          ...(opts.driftCaster ? { driftCaster: opts.driftCaster } : {}),
          alerts: opts.alerts,
          onDay: (d, n) => {
            if (process.stderr.isTTY) process.stderr.write(`\rday ${d + 1}/${n}`);
          },
        });
        if (r.status === 'already-seeded') {
          console.log(`${config.database.kind}: already holds a seeded history (${r.firstDay} … ${r.lastDay}, seeded ${r.at}); nothing written`);
          console.log(`npx loupe report casting --from ${r.firstDay} --to ${r.lastDay} --group-by caster --out report.html`);
          return;
        }
        if (r.status === 'has-history') {
          console.error(`${config.database.kind}: has inspections since ${r.since}; a seeded history is only written into a database without history of its own`);
          process.exitCode = 1;
          return;
        }
        const s = r.summary;
        if (process.stderr.isTTY) process.stderr.write('\n');
        console.log(
          `${config.database.kind}: ${s.inspections} inspections of ${s.pieces} pieces (${s.reinspections} re-inspections, ${s.reviews} reviewed), ` +
            `${s.findings} findings, ${s.firstDay} … ${s.lastDay}, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        console.log(`porosity of caster ${s.driftCaster} drifts upward from ${s.driftFrom}`);
        if (opts.alerts) {
          for (const a of r.alerts) console.log(`alert: ${a.chart}-chart ${a.dimension}=${a.group} ${a.rule} at ${a.pointKey}`);
          if (r.alerts.length === 0) console.log('no new alert');
        }
        console.log(`npx loupe report casting --from ${s.firstDay} --to ${s.lastDay} --group-by caster --out report.html`);
      } finally {
        await db.close();
      }
    });
}
