import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError } from '../../../core/errors.js';
import type { InspectionsDal } from '../../../core/store/inspections-dal.js';
import type { WebhooksDal } from '../../../core/store/webhooks-dal.js';
import { DeliveryStatusSchema, WEBHOOK_EVENTS, WebhookEventSchema, WebhookUrlSchema } from '../../../core/webhooks/webhooks.schema.js';
import { ROLES_MANAGE } from '../../auth/auth.js';
import { ErrorBodySchema } from '../../errors.js';

const WebhookInfoSchema = z.object({
  id: z.uuid(),
  url: z.string(),
  stationId: z.string().nullable().describe('null: every station.'),
  events: z.array(WebhookEventSchema),
  createdAt: z.string(),
  createdBy: z.string(),
  disabledAt: z.string().nullable(),
});
const DeliverySchema = z.object({
  id: z.uuid(),
  webhookId: z.string(),
  url: z.string().nullable(),
  event: z.string(),
  inspectionId: z.string().nullable(),
  status: DeliveryStatusSchema,
  attempts: z.number().int(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  deliveredAt: z.string().nullable(),
});
const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema };

/** Admin registration of webhooks, and the delivery log of an inspection (managers read it too). */
export function webhooksRoutes(deps: { webhooks: WebhooksDal; inspections: InspectionsDal }): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/v1/webhooks',
      {
        config: { roles: ROLES_MANAGE },
        schema: {
          tags: ['webhooks'],
          summary: 'Register a webhook (global, or for one station); the signing secret is in this answer only',
          description:
            `Events: ${WEBHOOK_EVENTS.join(', ')}. Each delivery is a POST of JSON signed with HMAC-SHA256 in ` +
            '`Loupe-Signature: t=<unix s>,v1=<hex>` over "<t>.<body>"; refuse signatures older than 5 minutes. See docs/production.md.',
          body: z.object({
            url: WebhookUrlSchema,
            secret: z.string().min(24).max(256).optional().describe('Default: a random one (returned).'),
            stationId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/).optional(),
            events: z.array(WebhookEventSchema).min(1).default(['inspection.done']),
          }),
          response: { 201: WebhookInfoSchema.extend({ secret: z.string() }), ...errors },
        },
      },
      async (req, reply) => {
        const a = req.auth!;
        const hook = await deps.webhooks.create(
          { url: req.body.url, secret: req.body.secret, stationId: req.body.stationId ?? null, events: req.body.events },
          { actor: a.actor, actorKeyId: a.keyId },
        );
        reply.header('cache-control', 'no-store');
        return reply.code(201).send(hook);
      },
    );

    app.get(
      '/v1/webhooks',
      { config: { roles: ROLES_MANAGE }, schema: { tags: ['webhooks'], summary: 'Registered webhooks (without secrets)', response: { 200: z.object({ items: z.array(WebhookInfoSchema) }), ...errors } } },
      async () => ({ items: await deps.webhooks.list() }),
    );

    app.delete(
      '/v1/webhooks/:id',
      {
        config: { roles: ROLES_MANAGE },
        schema: { tags: ['webhooks'], summary: 'Disable a webhook (its pending deliveries stop)', params: z.object({ id: z.uuid() }), response: { 200: WebhookInfoSchema, ...errors } },
      },
      async (req) => {
        const a = req.auth!;
        return deps.webhooks.disable(req.params.id, { actor: a.actor, actorKeyId: a.keyId });
      },
    );

    app.get(
      '/v1/inspections/:id/webhooks',
      {
        config: { roles: ['manager'] },
        schema: {
          tags: ['webhooks'],
          summary: 'Webhook deliveries of an inspection: status, attempts, last answer',
          params: z.object({ id: z.uuid() }),
          response: { 200: z.object({ items: z.array(DeliverySchema) }), ...errors },
        },
      },
      async (req) => {
        if (!(await deps.inspections.get(req.params.id))) throw new NotFoundError(`no inspection ${req.params.id}`, 'inspection_not_found');
        return { items: await deps.webhooks.ofInspection(req.params.id) };
      },
    );
  };
}
