import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { galleryCommand, positiveInt } from '../command-line.js';

const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));

interface SuiteCliOptions {
  sets: string;
  out: string;
  model?: string;
  models: string;
  make: boolean;
  only?: string;
  visibility: boolean;
  failures?: string;
  failuresPerKind: string;
}

export function register(program: Command): void {
  program
    .command('eval-suite')
    .description('evaluate a model on the standard sets (in-distribution, 12mp, shifted, close-up, real; models/eval/suite.ts) and write one JSON per set plus suite.md')
    .requiredOption('--sets <dir>', 'folder holding the sets (eval-s300/, eval12mp-s310/, shift-s301/, close-s320/, mt-test/)')
    .requiredOption('--out <dir>', 'where to write <set>.json and suite.md')
    .option('--model <id[@version]>', 'model to evaluate (default: the active version)')
    .option('--models <dir>', 'models folder', DEFAULT_MODELS_DIR)
    .option('--make', 'generate or import a missing set first (synth takes ~1 min per 100 photos on 2 cores)', false)
    .option('--only <names>', 'comma-separated subset: in-distribution,12mp,shifted,close-up,real')
    .option('--visibility', 'also bin polish photos by how visible their defects are (re-renders each synthetic polish photo once)', false)
    .option('--failures <dir>', "also write each set's failure gallery (overlays of the worst misses and false alarms) into <dir>/<set>/")
    .option('--failures-per-kind <n>', 'photos per gallery section', '3')
    .action(async (options: SuiteCliOptions) => {
      const perKind = positiveInt('--failures-per-kind', options.failuresPerKind)!;
      const ownArgs = ['eval-suite', '--sets', options.sets, '--out', options.out, ...(options.only ? ['--only', options.only] : [])];
      const { runSuite, suiteMarkdown } = await import('../../models/eval/suite.js');
      const rows = await runSuite({
        root: options.sets,
        out: options.out,
        modelsDir: options.models,
        ...(options.model ? { model: options.model } : {}),
        make: options.make,
        ...(options.only ? { only: options.only.split(',') } : {}),
        visibility: options.visibility,
        ...(options.failures ? { failures: { dir: options.failures, perKind, command: galleryCommand(ownArgs, options, DEFAULT_MODELS_DIR) } } : {}),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${suiteMarkdown(rows)}\n`);
    });
}
