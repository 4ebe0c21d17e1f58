import { z } from 'zod';
import { DomainSchema } from './options.schema.js';

/** What the pool sends a worker once, and per image. Parsed on arrival: worker messages are a boundary too. */
export const WorkerConfigSchema = z.object({
  seed: z.number().int().nonnegative(),
  size: z.number().int().positive(),
  domain: DomainSchema,
  coverKinds: z.boolean(),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

export const WorkerTaskSchema = z.object({ index: z.number().int().nonnegative() });
