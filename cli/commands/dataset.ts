import { Argument, Option, type Command } from 'commander';
import { z } from 'zod';
import { SPLITS, SplitSchema } from '../../datasets/manifest.schema.js';

// Literal here so `loupe --help` loads no adapter code (and so no sharp); the action parses the name again.
const ADAPTER_NAMES = ['magnetic-tile', 'casting-impeller'];

const CheckOptionsSchema = z.object({ deep: z.boolean().optional() });
const ImportOptionsSchema = z.object({
  split: SplitSchema,
  out: z.string().min(1),
  from: z.string().min(1).optional(),
  force: z.boolean().optional(),
});

async function runCheck(dir: string, rawOpts: unknown): Promise<void> {
  const opts = CheckOptionsSchema.parse(rawOpts);
  const { checkDataset, formatCheckProblem } = await import('../../datasets/check.js');
  const started = performance.now();
  const result = await checkDataset(dir, { deep: opts.deep ?? false });
  for (const problem of result.problems) process.stderr.write(`${formatCheckProblem(problem)}\n`);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const mode = opts.deep ? 'full decode' : 'headers';
  if (result.ok) {
    process.stdout.write(`ok: ${result.entries.length} entries in ${dir} (${mode}, ${seconds} s)\n`);
  } else {
    const errors = result.problems.filter((p) => p.severity === 'error').length;
    process.stderr.write(`${dir}: ${errors} problem(s) in ${result.entries.length} parsed entries\n`);
    process.exitCode = 1;
  }
}

async function runImport(name: string, rawOpts: unknown): Promise<void> {
  const opts = ImportOptionsSchema.parse(rawOpts);
  const { importDataset, AdapterNameSchema, DatasetImportError, formatSummary } = await import(
    '../../datasets/adapters/index.js'
  );
  try {
    const result = await importDataset({ name: AdapterNameSchema.parse(name), ...opts });
    process.stdout.write(`${formatSummary(`${name} ${opts.split} from ${result.src} -> ${result.manifestPath}`, result.entries)}\n`);
    for (const note of result.notes) process.stdout.write(`note: ${note}\n`);
  } catch (err) {
    if (!(err instanceof DatasetImportError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  }
}

const ExportReviewsOptionsSchema = z.object({
  out: z.string().min(1),
  since: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
  force: z.boolean().optional(),
});

async function runExportReviews(rawOpts: unknown): Promise<void> {
  const parsed = ExportReviewsOptionsSchema.safeParse(rawOpts);
  if (!parsed.success) {
    for (const i of parsed.error.issues) process.stderr.write(`--${i.path.join('.')}: ${i.message} (YYYY-MM-DD or an ISO date-time)\n`);
    process.exitCode = 2;
    return;
  }
  const opts = parsed.data;
  const { loadConfig } = await import('../../core/config.schema.js');
  const { openDatabase } = await import('../../core/store/db.js');
  const { migrateToLatest } = await import('../../core/store/migrate.js');
  const { createPhotoStore } = await import('../../core/photo-store/index.js');
  const { exportReviews, ExportError } = await import('../../datasets/export/export-reviews.js');
  const config = loadConfig();
  const db = await openDatabase(config.database);
  try {
    await migrateToLatest(db);
    const result = await exportReviews({
      db: db.db,
      photos: await createPhotoStore(config),
      out: opts.out,
      ...(opts.since ? { since: new Date(opts.since).toISOString() } : {}),
      force: opts.force ?? false,
    });
    for (const s of result.skipped) process.stderr.write(`skipped ${s}\n`);
    const defects = result.entries.reduce((n, e) => n + e.defects.length, 0);
    process.stdout.write(`${result.entries.length} photos of ${result.inspections} reviewed inspections (${defects} defects) -> ${result.manifestPath}\n`);
  } catch (err) {
    if (!(err instanceof ExportError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    await db.close();
  }
}

export function register(program: Command): void {
  const dataset = program.command('dataset').description('validate manifest folders and import real labelled sets');

  dataset
    .command('check')
    .description('validate DIR/manifest.jsonl and the files it names; exits 1 with one line per problem')
    .argument('<dir>', 'dataset folder holding manifest.jsonl')
    .option('--deep', 'decode every image and mask fully (slower; catches truncated files and non-binary masks)')
    .action(runCheck);

  dataset
    .command('import')
    .description('import a real labelled set into a manifest folder (fixed split rule: i % 5 == 0 test, 1 val, else train)')
    .addArgument(new Argument('<name>', 'which set').choices(ADAPTER_NAMES))
    .addOption(new Option('--split <split>', 'which split to import').choices([...SPLITS]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output folder (manifest.jsonl, images/, masks/)')
    .option('--from <src>', 'source folder (default: ../shared/datasets/<name> beside the repo)')
    .option('--force', 'replace a previous import in --out instead of refusing a non-empty folder')
    .action(runImport);

  dataset
    .command('export-reviews')
    .description("inspectors' reviewed photos with corrected labels, as a manifest folder (DATABASE_URL, PHOTO_STORE); see docs/review.md")
    .requiredOption('--out <dir>', 'output folder (manifest.jsonl, images/, masks/)')
    .option('--since <date>', 'only reviews changed at or after this date (YYYY-MM-DD or ISO date-time)')
    .option('--force', 'replace an earlier export in --out instead of refusing a non-empty folder')
    .action(runExportReviews);
}
