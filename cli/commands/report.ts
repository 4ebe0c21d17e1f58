import type { Command } from 'commander';

/** `loupe report casting`: the trend report straight from the database DATABASE_URL names (no running API needed). */
export function register(program: Command): void {
  const report = program.command('report').description('Trend reports from the inspection history');

  report
    .command('casting')
    .description('Casting-quality report (p/u-charts with signals, Pareto, pore sizes, first-pass yield) as one self-contained HTML file, JSON or CSV')
    .option('--from <date>', 'start, YYYY-MM-DD or ISO date-time (default: 90 days before --to)')
    .option('--to <date>', 'end; a YYYY-MM-DD date includes that whole day (default: now)')
    .option('--group-by <dimension>', 'tree | flask | metal | caster | setter | polisher | sku | profile | station | day | week | month', 'caster')
    .option('--interval <unit>', 'time subgroup of the charts over time: day | week | month (default from the period)')
    .option('--scope <family>', 'which findings make a piece defective: porosity | stone_spacing | polish | all', 'porosity')
    .option('--filter <dimension=values...>', 'only these values, e.g. --filter metal=pt950,ag925 --filter caster=Dario', (v: string, all: string[]) => [...all, v], [])
    .option('--format <format>', 'html | json | csv', 'html')
    .requiredOption('--out <file>', 'where to write it ("-" for stdout)')
    .action(async (opts: { from?: string; to?: string; groupBy: string; interval?: string; scope: string; filter: string[]; format: string; out: string }) => {
      const { CastingQuerySchema, periodOf } = await import('../../api/routes/reports/reports.schema.js');
      const { DIMENSIONS } = await import('../../core/reports/casting-query.js');
      const filters: Record<string, string> = {};
      for (const f of opts.filter) {
        const m = /^([a-z]+)=(.+)$/.exec(f);
        if (!m || !(DIMENSIONS as readonly string[]).includes(m[1]!)) {
          console.error(`--filter ${f}: expected <dimension>=<v1,v2,…> with dimension one of ${DIMENSIONS.join(', ')}`);
          process.exitCode = 2;
          return;
        }
        filters[m[1]!] = m[2]!;
      }
      const parsed = CastingQuerySchema.safeParse({
        ...(opts.from ? { from: opts.from } : {}),
        ...(opts.to ? { to: opts.to } : {}),
        groupBy: opts.groupBy,
        ...(opts.interval ? { interval: opts.interval } : {}),
        scope: opts.scope,
        format: opts.format,
        ...filters,
      });
      if (!parsed.success) {
        for (const i of parsed.error.issues) console.error(`${i.path.join('.') || 'query'}: ${i.message}`);
        process.exitCode = 2;
        return;
      }
      const q = parsed.data;
      const { loadConfig } = await import('../../core/config.schema.js');
      const { openDatabase } = await import('../../core/store/db.js');
      const { migrateToLatest } = await import('../../core/store/migrate.js');
      const { buildCastingReport } = await import('../../core/reports/casting-report.js');
      const db = await openDatabase(loadConfig().database);
      try {
        await migrateToLatest(db);
        const byDim: Record<string, string[]> = {};
        for (const d of DIMENSIONS) if (q[d]) byDim[d] = q[d];
        const r = await buildCastingReport(db.db, {
          ...periodOf(q),
          groupBy: q.groupBy,
          ...(q.interval ? { interval: q.interval } : {}),
          scope: q.scope,
          filters: byDim,
        });
        let text: string;
        if (q.format === 'json') text = `${JSON.stringify(r, null, 2)}\n`;
        else if (q.format === 'csv') text = (await import('../../core/reports/csv.js')).castingReportCsv(r);
        else text = (await import('../../core/reports/render-html.js')).renderCastingReportHtml(r);
        if (opts.out === '-') process.stdout.write(text);
        else {
          const fs = await import('node:fs/promises');
          await fs.writeFile(opts.out, text);
          const signals = r.series.filter((s) => s.p.signals.length + s.u.signals.length > 0).map((s) => s.group);
          console.error(
            `${opts.out}: ${r.overall.pieces} pieces, p̄ ${r.overall.p === null ? '–' : (r.overall.p * 100).toFixed(1)} %, ` +
              `first-pass yield ${r.overall.firstPassYield === null ? '–' : (r.overall.firstPassYield * 100).toFixed(1)} %; ` +
              `signals in ${signals.length ? signals.join(', ') : 'no group'}; ${r.alerts.length} alert(s) recorded (${r.timingsMs.total} ms)`,
          );
        }
      } finally {
        await db.close();
      }
    });
}
