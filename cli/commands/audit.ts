import type { Command } from 'commander';

export function register(program: Command): void {
  const audit = program.command('audit').description('The hash-chained audit trail');
  audit
    .command('verify')
    .description('Walk the audit chain; exit 1 naming the first event changed, inserted or deleted')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { loadConfig } = await import('../../core/config.schema.js');
      const { openDatabase } = await import('../../core/store/db.js');
      const { migrateToLatest } = await import('../../core/store/migrate.js');
      const { auditDal } = await import('../../core/store/audit-dal.js');
      const db = await openDatabase(loadConfig().database);
      try {
        await migrateToLatest(db);
        const r = await auditDal(db.db).verify();
        if (opts.json) console.log(JSON.stringify(r));
        else if (r.ok) {
          console.log(`audit chain intact: ${r.events} events${r.head ? `; head: event ${r.head.seq}, hash ${r.head.hash}` : ''}`);
          if (r.head) console.log('(keep the head hash somewhere else: a chain cut short at its end is only caught by comparing it)');
        } else {
          console.log(`audit chain BROKEN at event ${r.problem!.seq} (${r.problem!.kind}): ${r.problem!.message}`);
          if (r.head) console.log(`last good event: ${r.head.seq}, hash ${r.head.hash}`);
        }
        process.exitCode = r.ok ? 0 : 1;
      } finally {
        await db.close();
      }
    });
}
