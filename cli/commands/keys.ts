import type { Command } from 'commander';

/** `loupe keys …`: API keys, straight in the database DATABASE_URL names (no running API needed). */
async function withKeys<T>(fn: (keys: import('../../core/store/keys-dal.js').KeysDal) => Promise<T>): Promise<T> {
  const { loadConfig } = await import('../../core/config.schema.js');
  const { openDatabase } = await import('../../core/store/db.js');
  const { migrateToLatest } = await import('../../core/store/migrate.js');
  const { keysDal } = await import('../../core/store/keys-dal.js');
  const db = await openDatabase(loadConfig().database);
  try {
    await migrateToLatest(db);
    return await fn(keysDal(db.db));
  } finally {
    await db.close();
  }
}

async function cliActor(): Promise<{ actor: string }> {
  const os = await import('node:os');
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    /* no passwd entry (containers) */
  }
  return { actor: `cli:${user}` };
}

export function register(program: Command): void {
  const keys = program.command('keys').description('API keys: one per person or station (roles: station, inspector, manager, admin)');

  keys
    .command('create')
    .description('Create a key and print it once (only its hash is stored)')
    .requiredOption('--role <role>', 'station | inspector | manager | admin')
    .requiredOption('--name <name>', 'who holds it: a person or a station (appears in the audit trail)')
    .option('--station <id>', 'bind a station key to this station id (it may then upload only for it)')
    .option('--json', 'print JSON')
    .action(async (opts: { role: string; name: string; station?: string; json?: boolean }) => {
      const { RoleSchema } = await import('../../core/auth/api-keys.js');
      const role = RoleSchema.safeParse(opts.role);
      if (!role.success) {
        console.error(`--role must be one of station, inspector, manager, admin (got "${opts.role}")`);
        process.exitCode = 2;
        return;
      }
      const made = await withKeys(async (k) => k.create({ name: opts.name, role: role.data, stationId: opts.station ?? null }, await cliActor()));
      if (opts.json) {
        console.log(JSON.stringify({ ...made.info, key: made.key }));
        return;
      }
      console.log(made.key);
      console.error(`key ${made.info.id} for ${made.info.role}:${made.info.name}${made.info.stationId ? ` (station ${made.info.stationId})` : ''}; shown once, store it now`);
    });

  keys
    .command('list')
    .description('List keys (id, role, name, station, created, last used, revoked); never the keys themselves')
    .option('--json', 'print JSON lines')
    .action(async (opts: { json?: boolean }) => {
      const list = await withKeys((k) => k.list());
      if (opts.json) {
        for (const k of list) console.log(JSON.stringify(k));
        return;
      }
      const rows = [['id', 'role', 'name', 'station', 'created', 'last used', 'revoked']];
      for (const k of list) rows.push([k.id, k.role, k.name, k.stationId ?? '-', k.createdAt, k.lastUsedAt ?? '-', k.revokedAt ?? '-']);
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
    });

  keys
    .command('revoke')
    .description('Revoke a key by id; requests with it answer 401 from now on, its sessions end')
    .argument('<id>', 'the key id (from `loupe keys list`)')
    .action(async (id: string) => {
      try {
        const k = await withKeys(async (dal) => dal.revoke(id, await cliActor()));
        console.log(`revoked ${k.id} (${k.role}:${k.name}) at ${k.revokedAt}`);
      } catch (err) {
        console.error(err instanceof Error ? err.message : String(err));
        process.exitCode = 1;
      }
    });
}
