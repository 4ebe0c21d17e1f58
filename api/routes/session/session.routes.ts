import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actorOf, keyIdOf, keyMatches, RoleSchema } from '../../../core/auth/api-keys.js';
import type { Config } from '../../../core/config.schema.js';
import { UnauthorizedError } from '../../../core/errors.js';
import type { KeysDal } from '../../../core/store/keys-dal.js';
import { readCookie, ROLES_READ, SESSION_COOKIE, sessionCookie } from '../../auth/auth.js';
import { ErrorBodySchema } from '../../errors.js';

const WhoSchema = z.object({
  keyId: z.string(),
  name: z.string(),
  role: RoleSchema,
  stationId: z.string().nullable(),
  actor: z.string(),
});

/**
 * Key → HttpOnly session cookie, for the browser pages (review queue, station page): the page asks for the key once
 * and never holds it in script-readable storage. The cookie is SameSite=Strict, Secure over HTTPS, and dies with
 * its key (revocation deletes the key's sessions).
 */
export function sessionRoutes(deps: { config: Config; keys: KeysDal }): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/v1/session',
      {
        config: { roles: 'public' },
        schema: {
          tags: ['auth'],
          summary: 'Exchange an API key for a session cookie (HttpOnly, SameSite=Strict)',
          body: z.object({ key: z.string().min(1).max(512) }),
          response: { 200: WhoSchema.extend({ expiresAt: z.string() }), 400: ErrorBodySchema, 401: ErrorBodySchema },
        },
      },
      async (req, reply) => {
        const key = await deps.keys.find(keyIdOf(req.body.key));
        if (!key || !keyMatches(req.body.key, key.hash) || key.revokedAt) throw new UnauthorizedError('unknown or revoked API key', 'unauthenticated');
        const s = await deps.keys.createSession(key.id, deps.config.auth.sessionTtlMs);
        reply.header('set-cookie', sessionCookie(req, deps.config, s.token, Math.floor(deps.config.auth.sessionTtlMs / 1000)));
        reply.header('cache-control', 'no-store');
        return { keyId: key.id, name: key.name, role: key.role, stationId: key.stationId, actor: actorOf(key), expiresAt: s.expiresAt };
      },
    );

    app.get(
      '/v1/session',
      { config: { roles: ROLES_READ }, schema: { tags: ['auth'], summary: 'Who the key or session cookie belongs to', response: { 200: WhoSchema, 401: ErrorBodySchema } } },
      async (req) => {
        const a = req.auth!;
        return { keyId: a.keyId, name: a.name, role: a.role, stationId: a.stationId, actor: a.actor };
      },
    );

    app.delete(
      '/v1/session',
      { config: { roles: 'public' }, schema: { tags: ['auth'], summary: 'Sign out: forget the session and clear its cookie', response: { 204: z.null() } } },
      async (req, reply) => {
        const token = readCookie(req, SESSION_COOKIE);
        if (token) await deps.keys.deleteSession(token);
        reply.header('set-cookie', sessionCookie(req, deps.config, '', 0));
        return reply.code(204).send(null);
      },
    );
  };
}
