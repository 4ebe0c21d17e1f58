import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError } from '../../../core/errors.js';
import type { InspectionsDal } from '../../../core/store/inspections-dal.js';
import { VerdictSchema } from '../../../core/inspection.schema.js';
import { ROLES_READ } from '../../auth/auth.js';
import { ErrorBodySchema } from '../../errors.js';
import { InspectionSummarySchema } from '../inspections/inspections.schema.js';
import { presentSummary } from '../inspections/present.js';

const PieceSchema = z.object({
  pieceId: z.string(),
  firstInspectionId: z.uuid(),
  latest: z.object({ id: z.uuid(), status: z.string(), verdict: VerdictSchema.nullable() }),
  inspections: z
    .array(
      InspectionSummarySchema.extend({
        sequence: z.number().int().describe('1 for the first inspection of the piece, 2 for the re-inspection after rework, …'),
        reinspectionOf: z.uuid().nullable().describe('The inspection this one re-inspects (the previous one of the piece).'),
      }),
    )
    .describe('Oldest first.'),
});

export function piecesRoutes(deps: { inspections: InspectionsDal }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/pieces/:pieceId',
      {
        config: { roles: ROLES_READ },
        schema: {
          tags: ['pieces'],
          summary: 'Every inspection of a piece, oldest first, each re-inspection linked to the one before',
          params: z.object({ pieceId: z.string().min(1).max(128) }),
          response: { 200: PieceSchema, 400: ErrorBodySchema, 404: ErrorBodySchema },
        },
      },
      async (req) => {
        const all = await deps.inspections.listByPiece(req.params.pieceId);
        const first = all[0];
        const last = all.at(-1);
        if (!first || !last) throw new NotFoundError(`no inspection of piece "${req.params.pieceId}"`, 'piece_not_found');
        return {
          pieceId: req.params.pieceId,
          firstInspectionId: first.id,
          latest: { id: last.id, status: last.status, verdict: last.verdict },
          inspections: all.map((i, k) => ({ ...presentSummary(i), sequence: k + 1, reinspectionOf: k === 0 ? null : all[k - 1]!.id })),
        };
      },
    );
  };
}
