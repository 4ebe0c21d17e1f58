import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';

const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));

interface EvalCliOptions {
  data: string;
  out: string;
  model?: string;
  profile: string;
  models: string;
  limit?: string;
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
    .action(async (options: EvalCliOptions) => {
      const { runEval } = await import('../../models/eval/run-eval.js');
      const { formatEvalSummary } = await import('../../models/eval/format-eval.js');
      const { ProgressBar } = await import('../../datasets/synth/progress.js');
      const limit = options.limit === undefined ? undefined : Number(options.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0)) throw new Error(`--limit must be a positive integer, got "${options.limit}"`);
      let bar: InstanceType<typeof ProgressBar> | undefined;
      const result = await runEval({
        data: options.data,
        out: options.out,
        modelsDir: options.models,
        ...(options.model ? { model: options.model } : {}),
        profile: options.profile,
        ...(limit ? { limit } : {}),
        onProgress: (done, total) => {
          bar ??= new ProgressBar(total, `eval ${options.data}`);
          bar.tick();
          if (done === total) bar.finish();
        },
      });
      process.stdout.write(formatEvalSummary(result) + '\n');
    });
}
