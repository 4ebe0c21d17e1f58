import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CatalogModel } from '../../../core/model-catalog.js';
import type { ModelsDal } from '../../../core/store/models-dal.js';
import { ROLES_READ } from '../../auth/auth.js';

const ModelsSchema = z.object({
  available: z
    .array(
      z.object({
        id: z.string(),
        version: z.string(),
        active: z.boolean(),
        sha256: z.string(),
        sizeBytes: z.number(),
        createdAt: z.string(),
        problem: z.string().nullable(),
      }),
    )
    .describe('Model versions in MODELS_DIR; `active` is the one workers load.'),
  loaded: z
    .array(z.object({ id: z.string(), version: z.string(), sha256: z.string(), firstSeenAt: z.string(), lastSeenAt: z.string() }))
    .describe('Versions workers have actually loaded (and reports may name), newest first per id.'),
});

export function modelsRoutes(deps: { catalog: () => Promise<CatalogModel[]>; models: ModelsDal }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/v1/models', { config: { roles: ROLES_READ }, schema: { tags: ['models'], summary: 'Available and loaded model versions', response: { 200: ModelsSchema } } }, async () => {
      const [available, loaded] = await Promise.all([deps.catalog(), deps.models.list()]);
      return {
        available,
        loaded: loaded.map((m) => ({ id: m.id, version: m.version, sha256: m.sha256, firstSeenAt: m.firstSeenAt, lastSeenAt: m.lastSeenAt })),
      };
    });
  };
}
