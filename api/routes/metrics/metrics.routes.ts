import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Metrics } from './metrics.js';

/** Scraped with a manager (or admin) key: `authorization: { credentials_file: … }` in Prometheus (docs/production.md). */

export function metricsRoutes(deps: { metrics: Metrics }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/metrics', { config: { roles: ['manager'] }, schema: { tags: ['health'], summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_req, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    });
  };
}
