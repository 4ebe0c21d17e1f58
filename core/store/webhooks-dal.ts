import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import { generateWebhookSecret } from '../webhooks/signature.js';
import { DeliveryStatusSchema, WebhookEventSchema, type DeliveryStatus, type WebhookEvent } from '../webhooks/webhooks.schema.js';
import { NotFoundError } from '../errors.js';
import { auditDal } from './audit-dal.js';
import { intColumn, jsonColumn, nowIso, timestampColumn } from './columns.js';
import type { Db } from './db.js';
import type { Database } from './tables.js';

const WebhookRowSchema = z.object({
  id: z.string(),
  url: z.string(),
  secret: z.string(),
  station_id: z.string().nullable(),
  events: jsonColumn(z.array(WebhookEventSchema)),
  created_at: timestampColumn,
  created_by: z.string(),
  disabled_at: timestampColumn.nullable(),
});
function toWebhook(row: unknown) {
  const r = WebhookRowSchema.parse(row);
  return { id: r.id, url: r.url, secret: r.secret, stationId: r.station_id, events: r.events, createdAt: r.created_at, createdBy: r.created_by, disabledAt: r.disabled_at };
}
export type Webhook = ReturnType<typeof toWebhook>;
export type WebhookInfo = Omit<Webhook, 'secret'>;

const DeliveryRowSchema = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event: z.string(),
  inspection_id: z.string().nullable(),
  body: z.string(),
  status: DeliveryStatusSchema,
  attempts: intColumn,
  last_status_code: intColumn.nullable(),
  last_error: z.string().nullable(),
  created_at: timestampColumn,
  updated_at: timestampColumn,
  delivered_at: timestampColumn.nullable(),
});
function toDelivery(row: unknown) {
  const r = DeliveryRowSchema.parse(row);
  return {
    id: r.id,
    webhookId: r.webhook_id,
    event: r.event,
    inspectionId: r.inspection_id,
    body: r.body,
    status: r.status,
    attempts: r.attempts,
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deliveredAt: r.delivered_at,
  };
}
export type Delivery = ReturnType<typeof toDelivery>;

export interface NewEvent {
  event: WebhookEvent;
  /** Webhooks bound to a station only hear events of that station; null: only global webhooks hear it. */
  stationId: string | null;
  inspectionId: string | null;
  data: Record<string, unknown>;
}

/** Registered webhooks and their deliveries (one row per event and webhook, updated on each attempt). */
export function webhooksDal(db: Db) {
  const audit = auditDal(db);
  return {
    async create(input: { url: string; secret?: string; stationId?: string | null; events: WebhookEvent[] }, by: { actor: string; actorKeyId?: string | null }): Promise<Webhook> {
      const row = {
        id: randomUUID(),
        url: input.url,
        secret: input.secret ?? generateWebhookSecret(),
        station_id: input.stationId ?? null,
        events: JSON.stringify([...new Set(input.events)]),
        created_at: nowIso(),
        created_by: by.actor,
        disabled_at: null,
      };
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('webhooks').values(row).execute();
        await audit.append(trx, {
          actor: by.actor,
          actorKeyId: by.actorKeyId ?? null,
          action: 'webhook.create',
          subjectType: 'webhook',
          subjectId: row.id,
          data: { url: row.url, stationId: row.station_id, events: JSON.parse(row.events) as unknown },
        });
      });
      return toWebhook(row);
    },

    async list(): Promise<WebhookInfo[]> {
      const rows = await db.selectFrom('webhooks').selectAll().orderBy('created_at').execute();
      return rows.map((r) => {
        const { secret: _s, ...info } = toWebhook(r);
        return info;
      });
    },

    async get(id: string): Promise<Webhook | null> {
      const row = await db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toWebhook(row) : null;
    },

    async disable(id: string, by: { actor: string; actorKeyId?: string | null }): Promise<WebhookInfo> {
      return db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new NotFoundError(`no webhook ${id}`, 'webhook_not_found');
        const now = nowIso();
        await trx.updateTable('webhooks').set({ disabled_at: now }).where('id', '=', id).where('disabled_at', 'is', null).execute();
        await audit.append(trx, { actor: by.actor, actorKeyId: by.actorKeyId ?? null, action: 'webhook.disable', subjectType: 'webhook', subjectId: id, data: { url: row.url } });
        const { secret: _s, ...info } = toWebhook({ ...row, disabled_at: row.disabled_at ?? now });
        return info;
      });
    },

    /**
     * One delivery row per active webhook that listens to the event (global ones, and the event's station's), in the
     * caller's transaction, so an inspection's result and the promise to announce it commit together.
     */
    async prepare(trx: Transaction<Database> | Db, e: NewEvent): Promise<string[]> {
      const hooks = (await trx.selectFrom('webhooks').selectAll().where('disabled_at', 'is', null).execute()).map(toWebhook);
      const now = nowIso();
      const rows = hooks
        .filter((h) => h.events.includes(e.event) && (h.stationId === null || h.stationId === e.stationId))
        .map((h) => {
          const id = randomUUID();
          return {
            id,
            webhook_id: h.id,
            event: e.event,
            inspection_id: e.inspectionId,
            body: JSON.stringify({ id, event: e.event, createdAt: now, data: e.data }),
            status: 'pending',
            attempts: 0,
            last_status_code: null,
            last_error: null,
            created_at: now,
            updated_at: now,
            delivered_at: null,
          };
        });
      if (rows.length > 0) await trx.insertInto('webhook_deliveries').values(rows).execute();
      return rows.map((r) => r.id);
    },

    async delivery(id: string): Promise<Delivery | null> {
      const row = await db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toDelivery(row) : null;
    },

    async recordAttempt(id: string, outcome: { status: DeliveryStatus; statusCode: number | null; error: string | null }): Promise<void> {
      const now = nowIso();
      await db
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          status: outcome.status,
          attempts: eb('attempts', '+', 1),
          last_status_code: outcome.statusCode,
          last_error: outcome.error,
          updated_at: now,
          ...(outcome.status === 'delivered' ? { delivered_at: now } : {}),
        }))
        .where('id', '=', id)
        .execute();
    },

    async ofInspection(inspectionId: string): Promise<Array<Omit<Delivery, 'body'> & { url: string | null }>> {
      const rows = await db
        .selectFrom('webhook_deliveries')
        .leftJoin('webhooks', 'webhooks.id', 'webhook_deliveries.webhook_id')
        .selectAll('webhook_deliveries')
        .select('webhooks.url as webhook_url')
        .where('webhook_deliveries.inspection_id', '=', inspectionId)
        .orderBy('webhook_deliveries.created_at')
        .orderBy('webhook_deliveries.id')
        .execute();
      return rows.map(({ webhook_url, ...r }) => {
        const { body: _b, ...d } = toDelivery(r);
        return { ...d, url: webhook_url ?? null };
      });
    },

    /** Deliveries not finished and untouched since `before`: the sweeper re-enqueues those whose job is gone. */
    async unfinished(before: string, limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('status', 'in', ['pending', 'retrying'])
        .where('updated_at', '<', before)
        .orderBy('updated_at')
        .limit(limit)
        .execute();
      return rows.map((r) => r.id);
    },
  };
}
export type WebhooksDal = ReturnType<typeof webhooksDal>;
