import { z } from 'zod';

/**
 * Events a webhook can subscribe to.
 * - `inspection.done`: an inspection has its report (any verdict).
 * - `inspection.fail`: an inspection has its report and the piece verdict is `fail` (subscribe to this alone to hear
 *   only about rejected pieces).
 * - `inspection.error`: an inspection could not be processed (bad photo, missing file, retries exhausted).
 * - `trend.signal`: a casting-quality trend signal (the trend reports add it).
 */
export const WEBHOOK_EVENTS = ['inspection.done', 'inspection.fail', 'inspection.error', 'trend.signal'] as const;
export const WebhookEventSchema = z.enum(WEBHOOK_EVENTS);
export type WebhookEvent = z.infer<typeof WebhookEventSchema>;

export const DELIVERY_STATUSES = ['pending', 'retrying', 'delivered', 'failed'] as const;
export const DeliveryStatusSchema = z.enum(DELIVERY_STATUSES);
export type DeliveryStatus = z.infer<typeof DeliveryStatusSchema>;

/** What every delivery body looks like; `data` depends on the event. */
export const WebhookBodySchema = z.object({
  id: z.uuid().describe('The delivery id (also in the Loupe-Delivery header): the same for every attempt.'),
  event: WebhookEventSchema,
  createdAt: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type WebhookBody = z.infer<typeof WebhookBodySchema>;

export const WebhookUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .refine((u) => {
    const p = new URL(u);
    return p.username === '' && p.password === '';
  }, 'no credentials in the URL; the receiver authenticates Loupe by the signature');
