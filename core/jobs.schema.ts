import { z } from 'zod';
import { MetalSchema } from '../datasets/manifest.schema.js';
import { ViewNameSchema } from './inspection.schema.js';
import { PHOTO_KEY_RE } from './photo-store/photo-store.js';

/**
 * Every job name maps to exactly one payload schema (immich's job map). Payloads carry photo store keys, never
 * photo bytes: inline 200 KB photos made enqueue 11–18× slower and cost 220 KB of Redis each (issue 6).
 * The database row stays the record; a payload is rebuilt from it by the sweeper, so it holds nothing the row lacks.
 */
export const InspectJobSchema = z.object({
  inspectionId: z.uuid(),
  profile: z.string().min(1),
  metal: MetalSchema,
  expectedStones: z.number().int().nonnegative().optional(),
  views: z
    .array(
      z.object({
        n: z.number().int().nonnegative(),
        view: ViewNameSchema,
        photoKey: z.string().regex(PHOTO_KEY_RE),
        mmPerPx: z.number().positive().optional(),
        /** `calibration` when the scale is the station's calibration, fixed at upload (absent: `given`). */
        mmPerPxSource: z.enum(['given', 'calibration']).optional(),
      }),
    )
    .min(1),
});
export type InspectJob = z.infer<typeof InspectJobSchema>;

/** One signed POST of one event to one webhook; the body is in the delivery row, so every attempt sends the same bytes. */
export const WebhookJobSchema = z.object({ deliveryId: z.uuid() });
export type WebhookJob = z.infer<typeof WebhookJobSchema>;

export const JOB_SCHEMAS = {
  inspect: InspectJobSchema,
  webhook: WebhookJobSchema,
} as const;

export type JobName = keyof typeof JOB_SCHEMAS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOB_SCHEMAS)[N]>;

/** One queue per job name, so a slow kind of job never holds up another and each scales on its own workers. */
export const QUEUE_NAMES: Record<JobName, string> = {
  inspect: 'inspect',
  webhook: 'webhook',
};
