import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import sharp from 'sharp';
import { z } from 'zod';
import { NotFoundError } from '../../../core/errors.js';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import type { InspectionsDal } from '../../../core/store/inspections-dal.js';
import { ROLES_READ, ROLES_REVIEW } from '../../auth/auth.js';
import { ErrorBodySchema } from '../../errors.js';
import { IdParamsSchema, ViewParamsSchema } from '../inspections/inspections.schema.js';
import { QueueQuerySchema, QueueResponseSchema, ReviewBodySchema, ReviewResultSchema, ReviewStateSchema } from './review.schema.js';
import type { ReviewService } from './review-service.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 422: ErrorBodySchema };

/** Types a browser shows as they are; anything else (TIFF) is converted to JPEG for the page. */
const BROWSER_TYPES: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

export function reviewRoutes(deps: { service: ReviewService; inspections: InspectionsDal; photos: PhotoStore }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/review/queue',
      {
        config: { roles: ROLES_REVIEW },
        schema: {
          tags: ['review'],
          summary: 'Inspections flagged review or fail, oldest first, for inspectors; filters by station, SKU, profile, tree and defect family',
          querystring: QueueQuerySchema,
          response: { 200: QueueResponseSchema, ...errors },
        },
      },
      async (req) => deps.service.queue(req.query),
    );

    app.get(
      '/v1/inspections/:id/review',
      {
        config: { roles: ROLES_REVIEW },
        schema: {
          tags: ['review'],
          summary: "An inspection's review state: views, model findings with measurements, tolerance and decision, added boxes, disposition",
          params: IdParamsSchema,
          response: { 200: ReviewStateSchema, ...errors },
        },
      },
      async (req) => deps.service.state(req.params.id),
    );

    app.post(
      '/v1/inspections/:id/review',
      {
        config: { roles: ROLES_REVIEW },
        schema: {
          tags: ['review'],
          summary: "Record an inspector's decisions: confirm/reject findings, add or remove missed-defect boxes, set the disposition",
          description:
            'Every action is written with an audit event (`review.finding`, `review.missed_finding`, `review.missed_finding_removed`, ' +
            '`review.disposition`) naming the reviewer and the model and profile versions the verdict was made with, in one transaction. ' +
            'Deciding again overwrites; the audit trail keeps the history. Only finished inspections are reviewed (409 otherwise).',
          params: IdParamsSchema,
          body: ReviewBodySchema,
          response: { 200: ReviewResultSchema, ...errors },
        },
      },
      async (req) => deps.service.record(req.params.id, req.body, { keyId: req.auth!.keyId, actor: req.auth!.actor }),
    );

    app.get(
      '/v1/inspections/:id/views/:n/photo',
      {
        config: { roles: ROLES_READ },
        schema: {
          tags: ['inspections'],
          summary: 'The uploaded photo of view n (TIFF is sent as JPEG, so a browser can show it)',
          params: ViewParamsSchema,
          produces: ['image/jpeg', 'image/png', 'image/webp'],
          response: { 200: z.any().describe('the image'), ...errors },
        },
      },
      async (req, reply) => {
        const found = await deps.inspections.get(req.params.id);
        if (!found) throw new NotFoundError(`no inspection ${req.params.id}`, 'inspection_not_found');
        const view = found.views.find((v) => v.n === req.params.n);
        if (!view) throw new NotFoundError(`inspection ${found.id} has views 0..${found.views.length - 1}, not ${req.params.n}`, 'view_not_found');
        const bytes = await deps.photos.get(view.photo.sha256);
        reply.header('cache-control', 'private, max-age=86400, immutable');
        const mime = BROWSER_TYPES[view.photo.type];
        if (mime) return reply.type(mime).send(bytes);
        return reply.type('image/jpeg').send(await sharp(bytes).rotate().jpeg({ quality: 92 }).toBuffer());
      },
    );
  };
}
