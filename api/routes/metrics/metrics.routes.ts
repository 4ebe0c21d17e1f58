import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Metrics } from './metrics.js';

export function metricsRoutes(deps: { metrics: Metrics }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_req, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    });
  };
}
