import { UnrecoverableError, type Job } from 'bullmq';
import { WebhookJobSchema } from '../../core/jobs.schema.js';
import type { WebhooksDal } from '../../core/store/webhooks-dal.js';
import { SIGNATURE_HEADER, signBody } from '../../core/webhooks/signature.js';

export interface WebhookHandlerDeps {
  webhooks: WebhooksDal;
  timeoutMs: number;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

export type WebhookResult = { deliveryId: string; outcome: 'delivered' | 'already-delivered'; statusCode?: number };

/**
 * One attempt of one delivery: POST the stored body, signed with this attempt's timestamp. A 2xx answer delivers
 * it; anything else (or no answer within WEBHOOK_TIMEOUT_MS) throws, and BullMQ tries again after an exponential
 * backoff until WEBHOOK_ATTEMPTS are used. Redirects are not followed: a receiver that moved must be re-registered.
 */
export function webhookHandler(deps: WebhookHandlerDeps) {
  return async function processWebhook(job: Job): Promise<WebhookResult> {
    const parsed = WebhookJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job data is not a WebhookJob: ${parsed.error.issues[0]?.message}`);
    const { deliveryId } = parsed.data;
    const d = await deps.webhooks.delivery(deliveryId);
    if (!d) throw new UnrecoverableError(`webhook delivery ${deliveryId} does not exist`);
    if (d.status === 'delivered') return { deliveryId, outcome: 'already-delivered' };
    const hook = await deps.webhooks.get(d.webhookId);
    if (!hook || hook.disabledAt) {
      await deps.webhooks.recordAttempt(deliveryId, { status: 'failed', statusCode: null, error: 'webhook disabled' });
      throw new UnrecoverableError(`webhook ${d.webhookId} is disabled`);
    }

    const attempts = job.opts.attempts ?? 1;
    const last = job.attemptsMade + 1 >= attempts;
    let statusCode: number | null = null;
    let error: string;
    try {
      const t = Math.floor(Date.now() / 1000);
      const res = await fetch(hook.url, {
        method: 'POST',
        body: d.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Loupe-Webhooks/1',
          'loupe-event': d.event,
          'loupe-delivery': d.id,
          'loupe-attempt': String(job.attemptsMade + 1),
          [SIGNATURE_HEADER]: signBody(hook.secret, d.body, t),
        },
      });
      statusCode = res.status;
      // Read (and bound) the answer so the connection is released; only its start is kept for the delivery list.
      const text = (await res.text().catch(() => '')).slice(0, 200);
      if (res.ok) {
        await deps.webhooks.recordAttempt(deliveryId, { status: 'delivered', statusCode, error: null });
        deps.log.info({ deliveryId, webhookId: hook.id, event: d.event, statusCode, attempt: job.attemptsMade + 1 }, 'webhook delivered');
        return { deliveryId, outcome: 'delivered', statusCode };
      }
      error = `receiver answered ${res.status}${text ? `: ${text}` : ''}`;
    } catch (err) {
      error = err instanceof Error ? `${err.name === 'TimeoutError' ? `no answer within ${deps.timeoutMs} ms` : err.message}` : String(err);
    }
    await deps.webhooks.recordAttempt(deliveryId, { status: last ? 'failed' : 'retrying', statusCode, error });
    deps.log.warn({ deliveryId, webhookId: hook.id, statusCode, attempt: job.attemptsMade + 1, of: attempts, err: error }, 'webhook attempt failed');
    throw new Error(error);
  };
}
