import { inspectJobFor } from '../core/jobs.js';
import type { JobQueue } from '../core/queue.js';
import type { InspectionsDal } from '../core/store/inspections-dal.js';
import type { WebhooksDal } from '../core/store/webhooks-dal.js';

export interface SweeperDeps {
  inspections: InspectionsDal;
  /** Webhook deliveries committed but never enqueued (a crash between the two) are enqueued again too. */
  webhooks?: WebhooksDal;
  queue: JobQueue;
  intervalMs: number;
  graceMs: number;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

/**
 * The database row is the record, Redis only the delivery: an accepted inspection whose job Redis no longer has
 * (Redis restarted without persistence, a crash between commit and enqueue, an eviction) is enqueued again under
 * the same job id. One sweeper at a time across all worker processes holds the lease; others skip the round.
 */
export async function sweepOnce(deps: Omit<SweeperDeps, 'intervalMs'>): Promise<{ checked: number; requeued: string[]; failed: string[] }> {
  const before = new Date(Date.now() - deps.graceMs).toISOString();
  const requeued: string[] = [];
  const failed: string[] = [];
  const candidates = await deps.inspections.unfinished(before, 1000);
  for (const c of candidates) {
    const state = await deps.queue.state('inspect', c.id);
    if (state === 'missing') {
      const row = await deps.inspections.get(c.id);
      if (!row || (row.status !== 'queued' && row.status !== 'processing')) continue;
      await deps.queue.enqueue('inspect', inspectJobFor(row), row.id);
      requeued.push(row.id);
    } else if (state === 'failed') {
      // The worker's own failure bookkeeping did not land (it crashed, or the database was down then).
      const reason = (await deps.queue.failedReason('inspect', c.id)) ?? 'job failed';
      await deps.inspections.markFailed(c.id, reason);
      failed.push(c.id);
    }
  }
  if (deps.webhooks) {
    for (const id of await deps.webhooks.unfinished(before, 1000)) {
      if ((await deps.queue.state('webhook', id)) === 'missing') {
        await deps.queue.enqueue('webhook', { deliveryId: id }, id);
        requeued.push(id);
      }
    }
  }
  if (requeued.length > 0 || failed.length > 0) {
    deps.log.warn({ requeued: requeued.length, failed: failed.length, ids: [...requeued, ...failed].slice(0, 20) }, 'sweeper repaired inspections');
  }
  return { checked: candidates.length, requeued, failed };
}

export function startSweeper(deps: SweeperDeps): { stop(): void } {
  if (deps.intervalMs <= 0) return { stop() {} };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      try {
        if (await deps.queue.tryLease('sweeper', Math.max(1000, deps.intervalMs - 100))) await sweepOnce(deps);
      } catch (err) {
        // Redis or the database is down: the next round tries again; nothing is lost meanwhile.
        deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'sweeper round skipped');
      } finally {
        running = false;
      }
    })();
  }, deps.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
