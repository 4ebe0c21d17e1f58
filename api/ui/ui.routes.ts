import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError } from '../../core/errors.js';
import { METALS } from '../../datasets/manifest.schema.js';
import { POLISH_KINDS, POROSITY_KINDS, SPACING_KINDS } from '../../pipeline/report.schema.js';
import type { UiAssets } from './ui-assets.js';
import { reviewPage, stationPage } from './pages.js';

/** Pages and their assets are public: they hold no data; every call they make is checked like any API call. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export function uiRoutes(deps: { assets: UiAssets; requiredViews: Record<string, string[]> }): FastifyPluginAsyncZod {
  return async (app) => {
    const html = (body: string) => (_req: unknown, reply: import('fastify').FastifyReply) =>
      reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).header('cache-control', 'no-store').send(body);

    const review = reviewPage({ kinds: { porosity: POROSITY_KINDS, stone_spacing: SPACING_KINDS, polish: POLISH_KINDS } });
    const station = stationPage({ requiredViews: deps.requiredViews, metals: METALS });
    const page = { config: { roles: 'public' as const }, schema: { hide: true } };
    app.get('/review', page, html(review));
    app.get('/station', page, html(station));

    // Who the session cookie belongs to, or null: the pages' first call, public so a signed-out page logs no 401.
    app.get('/ui/session', { config: { roles: 'public' }, schema: { hide: true } }, async (req, reply) => {
      const a = req.auth;
      reply.header('cache-control', 'no-store');
      return { who: a ? { keyId: a.keyId, name: a.name, role: a.role, stationId: a.stationId, actor: a.actor } : null };
    });

    app.get(
      '/ui/:file',
      { config: { roles: 'public' }, schema: { hide: true, params: z.object({ file: z.string().regex(/^[a-z-]+\.(js|css)$/) }) } },
      async (req, reply) => {
        const f = deps.assets.files.get(req.params.file);
        if (!f) throw new NotFoundError(`no asset ${req.params.file}`, 'not_found');
        return reply.type(f.type).header('cache-control', 'no-cache').send(f.body);
      },
    );
  };
}
