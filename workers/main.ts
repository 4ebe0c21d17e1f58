import { pino, type Logger } from 'pino';
import type { Worker } from 'bullmq';
import type { Config } from '../core/config.schema.js';
import { createDirPhotoStore } from '../core/photo-store/dir-photo-store.js';
import { createJobQueue } from '../core/queue.js';
import { openDatabase } from '../core/store/db.js';
import { inspectionsDal } from '../core/store/inspections-dal.js';
import { migrateToLatest } from '../core/store/migrate.js';
import { modelsDal } from '../core/store/models-dal.js';
import { createModelRegistry, inspect, loadProfiles, type ModelRegistry } from '../pipeline/index.js';
import { inspectHandler, type InspectPhoto } from './handlers/inspect.handler.js';
import { startLoopLagMonitor } from './loop-lag.js';
import { startWorkers } from './queues.js';
import { startSweeper } from './sweeper.js';

export interface WorkerProcess {
  workers: Worker[];
  registry: ModelRegistry;
  log: Logger;
  close(): Promise<void>;
}

/**
 * One worker process: the model registry loaded once (one ONNX session per model, shared by its
 * WORKER_CONCURRENCY jobs), BullMQ workers per queue, the sweeper. Start as many processes on as many hosts as the
 * load needs; they coordinate only through Redis and the database.
 */
export async function startWorkerProcess(config: Config, opts: { log?: Logger } = {}): Promise<WorkerProcess> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { role: 'worker', pid: process.pid } });
  const db = await openDatabase(config.database);
  await migrateToLatest(db);
  const photos = await createDirPhotoStore(config.photoStoreDir);
  const profiles = loadProfiles({ overridePath: config.profilesFile ?? undefined, env: {} });
  const registry = await createModelRegistry(config.modelsDir, {
    intraOpThreads: config.worker.intraOpThreads,
    checkIntervalMs: 5000,
    onReloadError: (err) => log.error({ err }, 'promoted model refused; the previous version keeps serving'),
  });
  const lease = await registry.lease();
  await modelsDal(db.db).recordLoaded(
    lease.models.map((m) => ({ id: m.id, version: m.version, sha256: m.manifest.sha256, sizeBytes: m.manifest.sizeBytes, manifest: m.manifest })),
  );
  lease.release();
  log.info({ models: registry.list().map((m) => `${m.id}@${m.version}`), threads: config.worker.intraOpThreads, concurrency: config.worker.concurrency }, 'models loaded');

  const inspectPhoto: InspectPhoto = async (bytes, metadata, profile) => {
    // A lease per photo: a model promoted meanwhile is used from the next photo on, never halfway through one.
    const l = await registry.lease();
    try {
      return await inspect(bytes, metadata, profile, { models: l.models });
    } finally {
      l.release();
    }
  };

  const inspections = inspectionsDal(db.db);
  const lag = startLoopLagMonitor();
  const handler = inspectHandler({ inspections, photos, profiles, inspectPhoto, log });
  const workers = startWorkers(
    config,
    {
      inspect: async (job) => {
        lag.reset();
        const result = await handler(job);
        log.info({ inspectionId: job.id, eventLoopLag: lag.snapshot() }, 'event-loop delay during job');
        return result;
      },
    },
    (err) => log.warn({ err: err.message }, 'worker connection error'),
  );
  for (const w of workers) {
    w.on('failed', (job, err) => log.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'job failed'));
    w.on('stalled', (jobId) => log.warn({ jobId }, 'job stalled (its worker stopped renewing the lock); it will run again'));
  }
  const queue = createJobQueue(config, { onError: (err) => log.debug({ err: err.message }, 'sweeper redis error') });
  const sweeper = startSweeper({ inspections, queue, intervalMs: config.sweeper.intervalMs, graceMs: config.sweeper.graceMs, log });

  let closing: Promise<void> | null = null;
  return {
    workers,
    registry,
    log,
    close() {
      closing ??= (async () => {
        sweeper.stop();
        // close() lets running jobs finish (and stops taking new ones); their locks stay renewed meanwhile.
        await Promise.all(workers.map((w) => w.close()));
        lag.stop();
        await queue.close();
        await registry.close();
        await db.close();
      })();
      return closing;
    },
  };
}
