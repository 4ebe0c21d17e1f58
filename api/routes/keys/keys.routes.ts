import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RoleSchema } from '../../../core/auth/api-keys.js';
import { KeyNameSchema, type KeysDal } from '../../../core/store/keys-dal.js';
import { ROLES_MANAGE } from '../../auth/auth.js';
import { ErrorBodySchema } from '../../errors.js';

const KeyInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: RoleSchema,
  stationId: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});
const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema };

/** Admin API over keys (the same as `loupe keys`); each change is an audit event naming the admin. */
export function keysRoutes(deps: { keys: KeysDal }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/keys',
      { config: { roles: ROLES_MANAGE }, schema: { tags: ['admin'], summary: 'Every API key (never the key itself)', response: { 200: z.object({ items: z.array(KeyInfoSchema) }), ...errors } } },
      async () => ({ items: await deps.keys.list() }),
    );

    app.post(
      '/v1/keys',
      {
        config: { roles: ROLES_MANAGE },
        schema: {
          tags: ['admin'],
          summary: 'Create a key for one person or station; the key is in this answer only',
          body: z.object({
            name: KeyNameSchema,
            role: RoleSchema,
            stationId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/).optional().describe('Bind a station key to the station it may upload for.'),
          }),
          response: { 201: KeyInfoSchema.extend({ key: z.string().describe('Shown once; store it in the station or give it to the person.') }), ...errors },
        },
      },
      async (req, reply) => {
        const a = req.auth!;
        const made = await deps.keys.create({ name: req.body.name, role: req.body.role, stationId: req.body.stationId ?? null }, { actor: a.actor, actorKeyId: a.keyId });
        reply.header('cache-control', 'no-store');
        return reply.code(201).send({ ...made.info, key: made.key });
      },
    );

    app.delete(
      '/v1/keys/:id',
      {
        config: { roles: ROLES_MANAGE },
        schema: { tags: ['admin'], summary: 'Revoke a key (and end its sessions)', params: z.object({ id: z.string().min(1).max(64) }), response: { 200: KeyInfoSchema, ...errors } },
      },
      async (req) => {
        const a = req.auth!;
        return deps.keys.revoke(req.params.id, { actor: a.actor, actorKeyId: a.keyId });
      },
    );
  };
}
