import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DomainSchema } from './options.schema.js';
import { renderAll } from './pool.js';
import { ProgressBar } from './progress.js';
import { DatasetWriter } from './writer.js';

export const GenerateOptionsSchema = z.object({
  out: z.string().min(1),
  count: z.number().int().positive(),
  seed: z.number().int().nonnegative(),
  size: z.number().int().min(128).max(8192),
  workers: z.number().int().positive().default(availableParallelism()),
  domain: DomainSchema,
  coverKinds: z.boolean().default(false),
  progress: z.boolean().default(true),
});
export type GenerateOptions = z.input<typeof GenerateOptionsSchema>;

/** Renders a whole dataset folder: images/, masks/, manifest.jsonl. Returns the wall time in seconds. */
export async function generateDataset(input: GenerateOptions): Promise<{ seconds: number; count: number }> {
  const opts = GenerateOptionsSchema.parse(input);
  const started = Date.now();
  const writer = await DatasetWriter.open(opts.out);
  const bar = opts.progress ? new ProgressBar(opts.count, `synth seed ${opts.seed}`) : null;
  await renderAll({ seed: opts.seed, size: opts.size, domain: opts.domain, coverKinds: opts.coverKinds }, opts.count, opts.workers, async (sample) => {
    await writer.write(sample.index, sample);
    bar?.tick();
  });
  await writer.close();
  bar?.finish();
  return { seconds: (Date.now() - started) / 1000, count: opts.count };
}
