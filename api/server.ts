import type { FastifyInstance } from 'fastify';
import type { Config } from '../core/config.schema.js';
import { createPhotoStore } from '../core/photo-store/index.js';
import { createJobQueue, type JobQueue } from '../core/queue.js';
import { openDatabase, type DbHandle } from '../core/store/db.js';
import { migrateToLatest } from '../core/store/migrate.js';
import { loadProfiles, renderOverlay } from '../pipeline/index.js';
import { buildApp } from './app.js';

export interface RunningServer {
  app: FastifyInstance;
  /** `http://host:port` actually bound (PORT=0 picks a free port). */
  url: string;
  close(): Promise<void>;
}

/** Opens what the API depends on, builds the app and listens. `close()` stops accepting, drains, then disconnects. */
export async function startServer(config: Config): Promise<RunningServer> {
  let db: DbHandle | undefined;
  let queue: JobQueue | undefined;
  try {
    db = await openDatabase(config.database);
    await migrateToLatest(db);
    const photos = await createPhotoStore(config);
    const profiles = loadProfiles({ overridePath: config.profilesFile ?? undefined, env: {} });
    let app: FastifyInstance | undefined;
    let lastRedisError = 0;
    queue = createJobQueue(config, {
      onError: (err) => {
        // ioredis reports every failed reconnect; one line per 10 s is enough to see Redis is down.
        if (Date.now() - lastRedisError > 10_000) app?.log.warn({ err: err.message }, 'redis connection error');
        lastRedisError = Date.now();
      },
    });
    app = await buildApp({ config, db: db.db, queue, photos, profileNames: profiles.names, renderOverlay: (photo, report) => renderOverlay(photo, report) });
    const url = await app.listen({ host: config.host, port: config.port });
    const openDb = db;
    const openQueue = queue;
    let closing: Promise<void> | null = null;
    return {
      app,
      url,
      close() {
        closing ??= (async () => {
          await app.close();
          await openQueue.close();
          await openDb.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await queue?.close().catch(() => {});
    await db?.close().catch(() => {});
    throw err;
  }
}
