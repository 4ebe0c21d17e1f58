import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DIMENSIONS, type Dimension } from '../../../core/reports/casting-query.js';
import { buildCastingReport } from '../../../core/reports/casting-report.js';
import { CastingReportSchema } from '../../../core/reports/casting-report.schema.js';
import { castingReportCsv } from '../../../core/reports/csv.js';
import { renderCastingReportHtml } from '../../../core/reports/render-html.js';
import type { Db } from '../../../core/store/db.js';
import { ErrorBodySchema } from '../../errors.js';
import { CastingQuerySchema, periodOf, type CastingQueryInput } from './reports.schema.js';

/** Managers read trend reports (admin is implied by the auth hook). */
const MANAGER = { roles: ['manager'] as const };

/** `format` wins; else the JSON route honours `Accept: text/csv`, and the page route answers HTML. */
function wants(req: FastifyRequest, q: CastingQueryInput, fallback: 'json' | 'html'): 'json' | 'csv' | 'html' {
  if (q.format) return q.format;
  if (fallback === 'json' && /\btext\/csv\b/.test(req.headers.accept ?? '')) return 'csv';
  return fallback;
}

export function reportsRoutes(deps: { db: Db }): FastifyPluginAsyncZod {
  return async (app) => {
    async function answer(req: FastifyRequest, reply: FastifyReply, q: CastingQueryInput, fallback: 'json' | 'html') {
      const filters: Partial<Record<Dimension, string[]>> = {};
      for (const d of DIMENSIONS) if (q[d]) filters[d] = q[d];
      const report = await buildCastingReport(deps.db, {
        ...periodOf(q),
        groupBy: q.groupBy,
        ...(q.interval ? { interval: q.interval } : {}),
        scope: q.scope,
        filters,
        ...(q.poreBinMm ? { poreBinMm: q.poreBinMm } : {}),
      });
      const format = wants(req, q, fallback);
      const name = `casting-${q.groupBy}-${report.period.from.slice(0, 10)}-${report.period.to.slice(0, 10)}`;
      if (format === 'csv') {
        return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(castingReportCsv(report));
      }
      if (format === 'html') {
        const params = new URLSearchParams(req.url.split('?')[1] ?? '');
        params.set('format', 'csv');
        return reply
          .type('text/html; charset=utf-8')
          .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
          .send(renderCastingReportHtml(report, { csvHref: `/v1/reports/casting?${params.toString()}` }));
      }
      return reply.send(report);
    }

    app.get(
      '/v1/reports/casting',
      {
        config: MANAGER,
        schema: {
          tags: ['reports'],
          summary: 'Casting-quality trends: p- and u-charts with signals, Pareto, pore sizes, first-pass yield, model agreement',
          description:
            'JSON by default; `Accept: text/csv` or `format=csv` gives the table by group as CSV, `format=html` the report page. ' +
            'Each piece counts once, at its first inspection; inspectors’ decisions override the model.',
          querystring: CastingQuerySchema,
          produces: ['application/json', 'text/csv', 'text/html'],
          response: { 200: CastingReportSchema, 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema },
        },
      },
      async (req, reply) => answer(req, reply, req.query, 'json'),
    );

    app.get(
      '/reports/casting',
      {
        config: MANAGER,
        schema: {
          tags: ['reports'],
          summary: 'The casting-quality report page (HTML, printable); same query as /v1/reports/casting',
          querystring: CastingQuerySchema,
          produces: ['text/html'],
        },
      },
      async (req, reply) => answer(req, reply, req.query, 'html'),
    );
  };
}
