import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../../core/config.schema.js';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../../../core/errors.js';
import { CursorSchema, type Cursor, type InspectionsDal } from '../../../core/store/inspections-dal.js';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import { toIso } from '../../../core/store/columns.js';
import { ROLES_READ } from '../../auth/auth.js';
import { ErrorBodySchema } from '../../errors.js';
import {
  AcceptedSchema,
  IdParamsSchema,
  InspectionSchema,
  ListQuerySchema,
  ListResponseSchema,
  UploadHeadersSchema,
  ViewParamsSchema,
} from './inspections.schema.js';
import type { InspectionsService } from './inspections-service.js';
import type { OverlayCache } from './overlay-cache.js';
import { inspectionUrl, presentInspection, presentSummary } from './present.js';
import { METADATA_FIELD, receiveUpload } from './receive-upload.js';
import { UploadMetadataSchema } from '../../../core/inspection.schema.js';

export interface InspectionsRoutesDeps {
  config: Config;
  photos: PhotoStore;
  profileNames: readonly string[];
  inspections: InspectionsDal;
  service: InspectionsService;
  overlays: OverlayCache;
}

const errors = { 400: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 413: ErrorBodySchema, 415: ErrorBodySchema, 422: ErrorBodySchema, 503: ErrorBodySchema };

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}
function decodeCursor(s: string): Cursor {
  try {
    return CursorSchema.parse(JSON.parse(Buffer.from(s, 'base64url').toString('utf8')));
  } catch {
    throw new BadRequestError('cursor is not one this API issued; use `nextCursor` from the previous page', 'invalid_cursor');
  }
}

export function inspectionsRoutes(deps: InspectionsRoutesDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/v1/inspections',
      {
        config: { roles: ['station'] },
        schema: {
          tags: ['inspections'],
          summary: 'Upload the photos of one piece for inspection',
          description:
            'multipart/form-data: first a `metadata` field holding the upload metadata as JSON (schema `UploadMetadata` below), ' +
            'then one `photo` file part per entry of `metadata.views`, in the same order. JPEG, PNG, TIFF or WebP, sniffed ' +
            'from the bytes. Answers 202 once the photos are stored, the inspection recorded and its job queued.\n\n' +
            `UploadMetadata: \`${JSON.stringify(z.toJSONSchema(UploadMetadataSchema, { io: 'input' }))}\``,
          consumes: ['multipart/form-data'],
          headers: UploadHeadersSchema,
          response: { 202: AcceptedSchema, ...errors },
        },
      },
      async (req, reply) => {
        if (!req.isMultipart()) {
          throw new BadRequestError(
            `the body must be multipart/form-data with a "${METADATA_FIELD}" field and "photo" file parts`,
            'not_multipart',
          );
        }
        const upload = await receiveUpload(req, deps);
        const auth = req.auth!;
        let accepted;
        try {
          if (auth.role === 'station' && auth.stationId !== null && upload.metadata.stationId !== auth.stationId) {
            throw new ForbiddenError(
              `key ${auth.keyId} belongs to station "${auth.stationId}" and may not upload for station "${upload.metadata.stationId}"`,
              'wrong_station',
            );
          }
          accepted = await deps.service.accept(upload, req.headers['idempotency-key'], { actor: auth.actor, actorKeyId: auth.keyId });
        } catch (err) {
          await upload.discard();
          throw err;
        }
        const current = await deps.inspections.get(accepted.id);
        if (accepted.replayed) reply.header('idempotent-replayed', 'true');
        reply.header('location', inspectionUrl(accepted.id));
        return reply.code(202).send({ id: accepted.id, status: current?.status ?? 'queued', statusUrl: inspectionUrl(accepted.id) });
      },
    );

    app.get(
      '/v1/inspections/:id',
      {
        config: { roles: ROLES_READ },
        schema: {
          tags: ['inspections'],
          summary: 'Status of an inspection, then its report per view and the piece verdict',
          params: IdParamsSchema,
          response: { 200: InspectionSchema, ...errors },
        },
      },
      async (req) => {
        const found = await deps.inspections.get(req.params.id);
        if (!found) throw new NotFoundError(`no inspection ${req.params.id}`, 'inspection_not_found');
        return presentInspection(found);
      },
    );

    app.get(
      '/v1/inspections',
      {
        config: { roles: ROLES_READ },
        schema: {
          tags: ['inspections'],
          summary: 'Inspections, newest first, filtered and paged with a cursor',
          querystring: ListQuerySchema,
          response: { 200: ListResponseSchema, ...errors },
        },
      },
      async (req) => {
        const q = req.query;
        const page = await deps.inspections.list(
          {
            verdict: q.verdict,
            status: q.status,
            pieceId: q.piece,
            tree: q.tree,
            stationId: q.station,
            from: q.from ? toIso(q.from) : undefined,
            to: q.to ? toIso(q.to) : undefined,
          },
          q.limit,
          q.cursor ? decodeCursor(q.cursor) : undefined,
        );
        const nextCursor = page.next ? encodeCursor(page.next) : null;
        let next: string | null = null;
        if (nextCursor) {
          const params = new URLSearchParams();
          for (const [k, v] of Object.entries(q)) if (v !== undefined && k !== 'cursor') params.set(k, String(v));
          params.set('cursor', nextCursor);
          next = `/v1/inspections?${params.toString()}`;
        }
        return { items: page.items.map(presentSummary), nextCursor, next };
      },
    );

    app.get(
      '/v1/inspections/:id/views/:n/overlay.png',
      {
        config: { roles: ROLES_READ },
        schema: {
          tags: ['inspections'],
          summary: 'The photo of view n with its findings drawn on it (PNG; rendered once, then cached)',
          params: ViewParamsSchema,
          produces: ['image/png'],
          response: { 200: z.any().describe('image/png'), ...errors },
        },
      },
      async (req, reply) => {
        const found = await deps.inspections.get(req.params.id);
        if (!found) throw new NotFoundError(`no inspection ${req.params.id}`, 'inspection_not_found');
        const view = found.views.find((v) => v.n === req.params.n);
        if (!view) throw new NotFoundError(`inspection ${found.id} has views 0..${found.views.length - 1}, not ${req.params.n}`, 'view_not_found');
        if (!view.report) {
          throw new ConflictError(`view ${view.n} has no report yet (inspection status: ${found.status}); poll ${inspectionUrl(found.id)}`, 'not_inspected_yet');
        }
        const png = await deps.overlays.get(found.id, view.n, view.photo.sha256, view.report);
        return reply.type('image/png').header('cache-control', 'private, max-age=86400').send(png);
      },
    );
  };
}
