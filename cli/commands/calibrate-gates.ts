import { InvalidArgumentError, type Command } from 'commander';
import { fileURLToPath } from 'node:url';

const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));

interface GatesCliOptions {
  data: string[];
  model: string;
  models: string;
  profile: string;
  maxFpr: number;
  objective: 'fpr' | 'balanced';
  polishFamilyMaxFpr?: number;
  pieceMaxFpr?: number;
  polishCalibration: boolean;
  downsampled?: number;
}

function fraction(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError(`must be a fraction in [0, 1), got "${v}"`);
  return n;
}

function scaleFactor(v: string): number {
  const n = Number(v);
  if (!(n >= 1)) throw new InvalidArgumentError(`must be a shrink factor of at least 1, got "${v}"`);
  return n;
}

function objectiveArg(v: string): 'fpr' | 'balanced' {
  if (v !== 'fpr' && v !== 'balanced') throw new InvalidArgumentError(`must be fpr or balanced, got "${v}"`);
  return v;
}

export function register(program: Command): void {
  program
    .command('calibrate-gates')
    .description("re-set a model version's image gates (operatingPoints.*.imageThreshold) through the pipeline on validation photos, at a bounded false-positive rate per channel")
    .requiredOption('--data <dir...>', 'validation manifest folder(s), never trained on')
    .requiredOption('--model <id@version>', 'the model version whose model.json is rewritten')
    .option('--models <dir>', 'models folder', DEFAULT_MODELS_DIR)
    .option('--profile <name>', 'profile to score with', 'band')
    .option('--objective <fpr|balanced>', 'fpr: lowest gate within --max-fpr; balanced: best balanced accuracy (pass/fail photos)', objectiveArg, 'fpr')
    .option('--max-fpr <x>', "largest share of a channel's negative photos allowed at or above its gate", fraction, 0.01)
    .option('--polish-family-max-fpr <x>', 'also bound the share of polish-clean photos flagged by any polish kind (one common per-kind rate, at most --max-fpr)', fraction)
    .option('--piece-max-fpr <x>', 'also bound the share of clean pieces flagged by any family, spacing included (scales --max-fpr and --polish-family-max-fpr down together)', fraction)
    .option('--downsampled <factor>', 'set only the gates of photos shrunk at least this much to the working scale (a 12 MP validation set: 1.5), from those photos', scaleFactor)
    .option('--polish-calibration', "also fit the polish kinds' common scale for the family score (per kind, on photos holding it against polish-clean jewelry photos)", false)
    .action(async (o: GatesCliOptions) => {
      if (!o.model.includes('@')) throw new InvalidArgumentError('--model needs id@version');
      const { calibrateGates } = await import('../../models/eval/calibrate-gates.js');
      const stats = await calibrateGates({
        data: o.data, modelsDir: o.models, model: o.model, profile: o.profile, maxFpr: o.maxFpr, objective: o.objective,
        ...(o.polishFamilyMaxFpr !== undefined ? { polishFamilyMaxFpr: o.polishFamilyMaxFpr } : {}),
        ...(o.pieceMaxFpr !== undefined ? { pieceMaxFpr: o.pieceMaxFpr } : {}),
        polishCalibration: o.polishCalibration,
        ...(o.downsampled !== undefined ? { downsampled: o.downsampled } : {}),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      const rows = Object.entries(stats).map(([ch, s]) =>
        `${ch.padEnd(12)} gate ${s.threshold.toFixed(4)}  FPR ${s.falsePositiveRate.toFixed(3)} of ${s.negatives}  recall ${Number.isNaN(s.recall) ? '–' : s.recall.toFixed(3)} of ${s.positives}  (recall at FPR ${Object.entries(s.recallAtFpr).map(([f, r]) => `${f}: ${r ?? '–'}`).join(', ')})`);
      process.stdout.write(`${rows.join('\n')}\n`);
    });
}
