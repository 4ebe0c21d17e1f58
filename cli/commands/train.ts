import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

// The workers' default too: MODELS_DIR, else the repo's models/.
const DEFAULT_MODELS_DIR = process.env.MODELS_DIR || fileURLToPath(new URL('../../models', import.meta.url));

const positiveInt = (name: string) =>
  z
    .string()
    .regex(/^[1-9][0-9]*$/, `${name} must be a positive integer`)
    .transform(Number);
const positiveNumber = (name: string) =>
  z
    .string()
    .transform(Number)
    .refine((n) => Number.isFinite(n) && n > 0, `${name} must be a positive number`);

const TrainCliSchema = z.object({
  data: z.array(z.string().min(1)).min(1),
  val: z.array(z.string().min(1)).optional(),
  base: z.string().min(1),
  epochs: positiveNumber('--epochs').optional(),
  steps: positiveInt('--steps').optional(),
  version: z.string().regex(/^[0-9A-Za-z.+-]+$/, '--version may hold letters, digits and . + -').optional(),
  models: z.string().min(1),
  runsDir: z.string().min(1).optional(),
  run: z.string().regex(/^[A-Za-z0-9._-]+$/, '--run may hold letters, digits and . _ -').optional(),
  batch: positiveInt('--batch'),
  crop: positiveInt('--crop').optional(),
  lr: positiveNumber('--lr').optional(),
  seed: positiveInt('--seed').optional(),
  rotate: z.boolean().optional(),
  folds: z
    .string()
    .regex(/^[0-9]+$/, '--folds must be an integer')
    .transform(Number)
    .refine((k) => k >= 2 && k <= 10, '--folds must be from 2 to 10')
    .optional(),
  ema: positiveNumber('--ema').refine((d) => d < 1, '--ema must be below 1').optional(),
  valFraction: positiveNumber('--val-fraction').refine((f) => f < 1, '--val-fraction must be below 1'),
  resume: z.boolean().optional(),
  smoke: z.boolean().optional(),
  maxMinutes: positiveNumber('--max-minutes').optional(),
  profile: z.string().min(1),
  deep: z.boolean().optional(),
  python: z.string().min(1),
});

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command): void {
  program
    .command('train')
    .description(
      'fine-tune a model on labelled manifest folders: checks every folder first, holds out validation photos (or takes --val), ' +
        'trains with checkpoints, calibrates, exports models/<id>/<new version>/ and prints old-vs-new metrics; never promotes',
    )
    .requiredOption('--data <dir>', 'training manifest folder (repeatable)', collect)
    .requiredOption('--base <id[@version]>', 'model to start from (default version: the active one)')
    .option('--val <dir>', 'validation manifest folder (repeatable); default: hold out a fifth of --data by file-name hash, per label combination', collect)
    .option('--epochs <n>', 'passes over the training photos (steps = ceil(n x photos / batch)); default 20, at most 800 steps')
    .option('--steps <n>', 'training steps instead of --epochs')
    .option('--version <v>', 'version to write (default: the base version with its minor number bumped to the next free one)')
    .option('--models <dir>', 'models folder (MODELS_DIR)', DEFAULT_MODELS_DIR)
    .option('--runs-dir <dir>', 'where runs and checkpoints live (default models/training/runs)')
    .option('--run <name>', 'run name (default retrain-<id>-<version>)')
    .option('--batch <n>', 'photos per step', '8')
    .option('--crop <px>', 'training crop side (default 256, or the photos\' own size when every training photo fits one crop)')
    .option('--lr <x>', 'peak learning rate (train.py default 2e-3)')
    .option('--seed <n>', 'seed (train.py default 1)')
    .option('--rotate', 'turn training photos by any angle, not only quarter turns (round pieces, turntables)')
    .option('--ema <decay>', 'export the moving average of the weights with this decay, e.g. 0.998 (default: the last weights)')
    .option(
      '--folds <k>',
      'train k members, each without one fold of the training photos; set the gates on their out-of-fold scores and export the members\' average (k x inference time)',
    )
    .option('--val-fraction <f>', 'share held out for validation when --val is absent', '0.2')
    .option('--resume', 'continue the run this same command started (after a stop, crash or --max-minutes)')
    .option('--smoke', 'a few photos and steps (train.py --smoke): for tests')
    .option('--max-minutes <m>', 'checkpoint and stop after this long; continue later with --resume')
    .option('--profile <name>', 'product profile for the old-vs-new evaluation (LOUPE_PROFILES may add profiles)', 'ring')
    .option('--deep', 'decode every image fully in the pre-training dataset check')
    .option('--python <path>', 'the interpreter that has torch', '/usr/bin/python3')
    .action(async (raw: unknown) => {
      const opts = TrainCliSchema.parse(raw);
      const { retrain } = await import('../../models/retrain/retrain.js');
      const { RetrainError } = await import('../../models/retrain/errors.js');
      try {
        const result = await retrain({
          data: opts.data,
          ...(opts.val ? { val: opts.val } : {}),
          base: opts.base,
          modelsDir: opts.models,
          ...(opts.epochs !== undefined ? { epochs: opts.epochs } : {}),
          ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
          ...(opts.version ? { version: opts.version } : {}),
          ...(opts.runsDir ? { runsDir: opts.runsDir } : {}),
          ...(opts.run ? { run: opts.run } : {}),
          batch: opts.batch,
          ...(opts.crop !== undefined ? { crop: opts.crop } : {}),
          ...(opts.lr !== undefined ? { lr: opts.lr } : {}),
          ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
          ...(opts.ema !== undefined ? { ema: opts.ema } : {}),
          ...(opts.rotate ? { rotate: true } : {}),
          ...(opts.folds !== undefined ? { folds: opts.folds } : {}),
          valFraction: opts.valFraction,
          resume: opts.resume ?? false,
          smoke: opts.smoke ?? false,
          ...(opts.maxMinutes !== undefined ? { maxMinutes: opts.maxMinutes } : {}),
          profile: opts.profile,
          deep: opts.deep ?? false,
          python: opts.python,
        });
        if (result.status === 'stopped') {
          process.stderr.write(`${result.message}\n`);
          process.exitCode = 2;
        }
      } catch (err) {
        if (!(err instanceof RetrainError)) throw err;
        for (const line of err.details) process.stderr.write(`${line}\n`);
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = 1;
      }
    });
}
