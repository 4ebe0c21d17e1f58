import { sql } from 'kysely';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CatalogModel } from '../../../core/model-catalog.js';
import type { JobQueue } from '../../../core/queue.js';
import type { Db } from '../../../core/store/db.js';

const CheckSchema = z.object({ ok: z.boolean(), detail: z.string() });
const ReadySchema = z.object({ ready: z.boolean(), checks: z.object({ redis: CheckSchema, database: CheckSchema, models: CheckSchema }) });

async function check(fn: () => Promise<string>): Promise<z.infer<typeof CheckSchema>> {
  try {
    return { ok: true, detail: await fn() };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * `/healthz`: the process answers (liveness: restart it if not). `/readyz`: it can do its job now: Redis answers,
 * the database answers, and MODELS_DIR holds a usable active model (readiness: route uploads elsewhere if not).
 */
export function healthRoutes(deps: { db: Db; queue: JobQueue; catalog: () => Promise<CatalogModel[]> }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/healthz', { config: { roles: 'public' }, schema: { tags: ['health'], response: { 200: z.object({ ok: z.literal(true) }) } } }, async () => ({ ok: true as const }));

    // Public, so load balancers and HEALTHCHECK need no key; the details (hosts, model ids, errors) only with one.
    app.get('/readyz', { config: { roles: 'public' }, schema: { tags: ['health'], response: { 200: ReadySchema, 503: ReadySchema } } }, async (req, reply) => {
      const [redis, database, models] = await Promise.all([
        check(async () => {
          await deps.queue.ping();
          return 'PONG';
        }),
        check(async () => {
          await sql`select 1`.execute(deps.db);
          return 'select 1';
        }),
        check(async () => {
          const active = (await deps.catalog()).filter((m) => m.active);
          if (active.length === 0) throw new Error('no model in MODELS_DIR');
          const broken = active.filter((m) => m.problem);
          if (broken.length > 0) throw new Error(broken.map((m) => `${m.id}@${m.version}: ${m.problem}`).join('; '));
          return active.map((m) => `${m.id}@${m.version}`).join(', ');
        }),
      ]);
      const ready = redis.ok && database.ok && models.ok;
      const shown = (c: z.infer<typeof CheckSchema>) => (req.auth ? c : { ok: c.ok, detail: c.ok ? 'ok' : 'failing (details with an API key)' });
      return reply.code(ready ? 200 : 503).send({ ready, checks: { redis: shown(redis), database: shown(database), models: shown(models) } });
    });
  };
}
