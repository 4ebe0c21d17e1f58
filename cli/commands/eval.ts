import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { galleryCommand, positiveInt } from '../command-line.js';

const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));

interface EvalCliOptions {
  data: string;
  out: string;
  model?: string;
  profile: string;
  models: string;
  limit?: string;
  failures?: string;
  failuresPerKind: string;
  visibility: boolean;
  candidates?: string;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('run the pipeline over a manifest folder and write metrics (AUROC, AP, P/R/F1, pixel AUROC/IoU, stones, gaps) as JSON')
    .requiredOption('--data <dir>', 'manifest folder (manifest.jsonl + images + masks)')
    .requiredOption('--out <file>', 'where to write the metrics JSON')
    .option('--model <id[@version]>', 'model to evaluate (default: the active version of each model)')
    .option('--profile <name>', 'product profile whose tolerances decide verdicts', 'ring')
    .option('--models <dir>', 'models folder', DEFAULT_MODELS_DIR)
    .option('--limit <n>', 'only the first n images')
    .option('--failures <dir>', 'also write a failure gallery there: overlays of the worst misses and false alarms, and index.md')
    .option('--failures-per-kind <n>', 'photos per gallery section', '3')
    .option('--candidates <file>', "also write every photo's verifier candidates per kind (JSON lines) for models/eval/score-rules.ts")
    .option('--visibility', 'also bin polish photos by how visible their defects are (synthetic sets; re-renders each polish photo once)', false)
    .action(async (options: EvalCliOptions) => {
      const { runEval } = await import('../../models/eval/run-eval.js');
      const { formatEvalSummary } = await import('../../models/eval/format-eval.js');
      const { ProgressBar } = await import('../../datasets/synth/progress.js');
      const limit = positiveInt('--limit', options.limit);
      const perKind = positiveInt('--failures-per-kind', options.failuresPerKind)!;
      let bar: InstanceType<typeof ProgressBar> | undefined;
      const evalOptions = {
        data: options.data,
        out: options.out,
        modelsDir: options.models,
        ...(options.model ? { model: options.model } : {}),
        profile: options.profile,
        ...(limit ? { limit } : {}),
        visibility: options.visibility,
        ...(options.candidates ? { candidatesOut: options.candidates } : {}),
        warmUp: true,
        onProgress: (done: number, total: number) => {
          bar ??= new ProgressBar(total, `eval ${options.data}`);
          bar.tick();
          if (done === total) bar.finish();
        },
      };
      if (!options.failures) {
        process.stdout.write(formatEvalSummary(await runEval(evalOptions)) + '\n');
        return;
      }
      const ownArgs = ['eval', '--data', options.data, '--profile', options.profile, '--out', options.out, ...(options.limit ? ['--limit', options.limit] : [])];
      const { runEvalWithImages } = await import('../../models/eval/run-eval.js');
      const { writeFailureGallery } = await import('../../models/eval/failures-gallery.js');
      const { formatGallerySummary } = await import('../../models/eval/format-eval.js');
      const { result, images } = await runEvalWithImages(evalOptions);
      process.stdout.write(formatEvalSummary(result) + '\n');
      const gallery = await writeFailureGallery({
        data: options.data,
        outDir: options.failures,
        perKind,
        result,
        images,
        command: galleryCommand(ownArgs, options, DEFAULT_MODELS_DIR),
      });
      process.stdout.write(formatGallerySummary(gallery) + '\n');
    });
}
