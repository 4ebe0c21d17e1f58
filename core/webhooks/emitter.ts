import type { Transaction } from 'kysely';
import { inspectionFields, inspectionUrl } from '../inspection-fields.js';
import type { JobQueue } from '../queue.js';
import type { Db } from '../store/db.js';
import type { InspectionWithViews } from '../store/inspections-dal.js';
import type { Database } from '../store/tables.js';
import type { NewEvent, WebhooksDal } from '../store/webhooks-dal.js';
import type { WebhookEvent } from './webhooks.schema.js';

export interface WebhookEmitter {
  /** Delivery rows inside the caller's transaction; pass the ids to `dispatch` once it committed. */
  prepare(trx: Transaction<Database>, e: NewEvent): Promise<string[]>;
  /** Enqueues one `webhook` job per delivery (job id = delivery id). A failure is logged: the sweeper retries it. */
  dispatch(deliveryIds: string[]): Promise<void>;
  /** prepare + dispatch, for events outside a transaction of their own (trend signals, processing errors). */
  emit(e: NewEvent): Promise<string[]>;
}

export function createWebhookEmitter(deps: {
  db: Db;
  webhooks: WebhooksDal;
  queue: JobQueue;
  log: { warn(o: object, msg: string): void };
}): WebhookEmitter {
  const dispatch = async (ids: string[]) => {
    for (const id of ids) {
      try {
        await deps.queue.enqueue('webhook', { deliveryId: id }, id);
      } catch (err) {
        deps.log.warn({ deliveryId: id, err: err instanceof Error ? err.message : String(err) }, 'webhook delivery not enqueued; the sweeper will retry');
      }
    }
  };
  return {
    prepare: (trx, e) => deps.webhooks.prepare(trx, e),
    dispatch,
    async emit(e) {
      const ids = await deps.webhooks.prepare(deps.db, e);
      await dispatch(ids);
      return ids;
    },
  };
}

/** What an inspection event says: enough to act on without calling back, and the URL to call back for the rest. */
export function inspectionEventData(i: InspectionWithViews): Record<string, unknown> {
  const { id, ...fields } = inspectionFields(i);
  return {
    inspection: {
      id,
      url: inspectionUrl(id),
      ...fields,
      // Name and content-hash version, so a receiver can tell which tolerances judged the piece.
      profile: i.summary?.profile ?? { name: i.profile, version: null },
      models: i.summary?.models ?? [],
      createdAt: i.createdAt,
      finishedAt: i.finishedAt,
      views: i.views.map((v) => ({
        n: v.n,
        view: v.view,
        verdict: v.verdict,
        photoSha256: v.photo.sha256,
        mmPerPx: v.report?.photo.mmPerPx ?? v.mmPerPx,
        mmPerPxSource: v.report?.photo.mmPerPxSource ?? v.mmPerPxSource,
      })),
    },
  };
}

/** The events an inspection outcome raises. */
export function inspectionEvents(i: InspectionWithViews): WebhookEvent[] {
  if (i.status === 'failed') return ['inspection.error'];
  if (i.status !== 'done') return [];
  return i.verdict === 'fail' ? ['inspection.done', 'inspection.fail'] : ['inspection.done'];
}
