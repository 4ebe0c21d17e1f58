import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import type { ModelChange } from '../../models/retrain/model-admin.js';

// The workers' default too: MODELS_DIR, else the repo's models/.
const DEFAULT_MODELS_DIR = process.env.MODELS_DIR || fileURLToPath(new URL('../../models', import.meta.url));

async function cliActor(): Promise<string> {
  const os = await import('node:os');
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli:unknown'; // no passwd entry (containers)
  }
}

/**
 * The promotion as an audit event in the store DATABASE_URL names (default: the SQLite file in LOUPE_DATA_DIR), through
 * the hash chain's `append`. The model files are the truth of what serves; an unreachable store is a warning, since
 * `history.json` beside the models already holds the change.
 */
async function recordInAudit(change: ModelChange): Promise<void> {
  const { loadConfig } = await import('../../core/config.schema.js');
  const { openDatabase } = await import('../../core/store/db.js');
  const { migrateToLatest } = await import('../../core/store/migrate.js');
  const { auditDal } = await import('../../core/store/audit-dal.js');
  try {
    const db = await openDatabase(loadConfig().database);
    try {
      await migrateToLatest(db);
      await auditDal(db.db).append(db.db, {
        actor: change.by,
        action: change.action === 'promote' ? 'model.promoted' : 'model.rolled_back',
        subjectType: 'model',
        subjectId: change.id,
        data: { id: change.id, from: change.from, to: change.to, sha256: change.sha256, at: change.at, modelsDir: change.modelsDir },
      });
    } finally {
      await db.close();
    }
  } catch (err) {
    process.stderr.write(`warning: the change is made and in history.json, but the audit trail could not record it: ${(err as Error).message}\n`);
  }
}

async function run(fn: () => Promise<void>): Promise<void> {
  const { RetrainError } = await import('../../models/retrain/errors.js');
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof RetrainError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  }
}

function describeChange(c: ModelChange): string {
  const verb = c.action === 'promote' ? 'promoted' : 'rolled back';
  return `${verb} ${c.id}: ${c.from ?? '(none)'} → ${c.to} (sha256 ${c.sha256.slice(0, 12)}) by ${c.by} at ${c.at}; running workers switch on their next check (≤ 5 s), no restart`;
}

export function register(program: Command): void {
  const models = program.command('models').description('model versions: list, promote (with audit), roll back');

  models
    .command('list')
    .description('every version of every model: active marker, sha256, created, headline metrics')
    .option('--models <dir>', 'models folder (MODELS_DIR)', DEFAULT_MODELS_DIR)
    .option('--json', 'print JSON')
    .action((opts: { models: string; json?: boolean }) =>
      run(async () => {
        const { listModels, formatModelList } = await import('../../models/retrain/model-admin.js');
        const rows = await listModels(opts.models);
        process.stdout.write((opts.json ? JSON.stringify(rows, null, 2) : formatModelList(rows)) + '\n');
      }),
    );

  models
    .command('promote')
    .description('make VERSION the active version of ID after checking it loads (sha256, input names); audited')
    .argument('<id>', 'model id, e.g. loupe-seg')
    .argument('<version>', 'version folder under models/<id>/')
    .option('--models <dir>', 'models folder (MODELS_DIR)', DEFAULT_MODELS_DIR)
    .action((id: string, version: string, opts: { models: string }) =>
      run(async () => {
        const { promote } = await import('../../models/retrain/model-admin.js');
        const c = await promote({ modelsDir: opts.models, by: await cliActor(), record: recordInAudit }, id, version);
        process.stdout.write(describeChange(c) + '\n');
      }),
    );

  models
    .command('rollback')
    .description('re-activate the version that was active before the current one (from models/<id>/history.json); audited')
    .argument('<id>', 'model id')
    .option('--models <dir>', 'models folder (MODELS_DIR)', DEFAULT_MODELS_DIR)
    .action((id: string, opts: { models: string }) =>
      run(async () => {
        const { rollback } = await import('../../models/retrain/model-admin.js');
        const c = await rollback({ modelsDir: opts.models, by: await cliActor(), record: recordInAudit }, id);
        process.stdout.write(describeChange(c) + '\n');
      }),
    );
}
