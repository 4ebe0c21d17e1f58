import { pino, type Logger } from 'pino';
import type { Worker } from 'bullmq';
import type { Config } from '../core/config.schema.js';
import { createPhotoStore } from '../core/photo-store/index.js';
import { createJobQueue } from '../core/queue.js';
import { openDatabase } from '../core/store/db.js';
import { inspectionsDal } from '../core/store/inspections-dal.js';
import { migrateToLatest } from '../core/store/migrate.js';
import { modelsDal } from '../core/store/models-dal.js';
import { webhooksDal } from '../core/store/webhooks-dal.js';
import { createWebhookEmitter } from '../core/webhooks/emitter.js';
import { createSignalWatcher, webhookNotifier } from '../core/reports/alerts.js';
import { createModelRegistry, inspect, loadProfiles, type ModelRegistry } from '../pipeline/index.js';
import { warmUpPipeline } from '../pipeline/warm-up-pipeline.js';
import { inspectHandler, type InspectPhoto } from './handlers/inspect.handler.js';
import { webhookHandler } from './handlers/webhook.handler.js';
import { startLoopLagMonitor } from './loop-lag.js';
import { startWorkers } from './queues.js';
import { startSweeper } from './sweeper.js';
import { warmUpPhotos } from './warm-up-photos.js';

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
  const photos = await createPhotoStore(config);
  const profiles = loadProfiles({ overridePath: config.profilesFile ?? undefined, env: {} });
  const registry = await createModelRegistry(config.modelsDir, {
    intraOpThreads: config.worker.intraOpThreads,
    checkIntervalMs: 5000,
    onReloadError: (err) => log.error({ err }, 'promoted model refused; the previous version keeps serving'),
    warmUpRuns: config.worker.warmUpRuns,
    onWarmUp: (m, ms) => log.info({ model: `${m.id}@${m.version}`, ms: Math.round(ms), runs: config.worker.warmUpRuns }, 'model warmed up'),
  });
  const models = modelsDal(db.db);
  const recorded = new Set<string>();
  // Recorded at start-up and whenever a lease shows a version not seen yet (a promotion picked up by the registry).
  const recordModels = async (loaded: ReadonlyArray<{ id: string; version: string; manifest: { sha256: string; sizeBytes: number } }>) => {
    const fresh = loaded.filter((m) => !recorded.has(`${m.id}@${m.version}`));
    if (fresh.length === 0) return;
    await models.recordLoaded(fresh.map((m) => ({ id: m.id, version: m.version, sha256: m.manifest.sha256, sizeBytes: m.manifest.sizeBytes, manifest: m.manifest })));
    for (const m of fresh) recorded.add(`${m.id}@${m.version}`);
  };
  const lease = await registry.lease();
  await recordModels(lease.models);
  lease.release();
  log.info({ models: registry.list().map((m) => `${m.id}@${m.version}`), threads: config.worker.intraOpThreads, concurrency: config.worker.concurrency }, 'models loaded');
  if (config.worker.warmUpRuns > 0) {
    const samples = await warmUpPhotos();
    const l = await registry.lease();
    try {
      const ms = await warmUpPipeline(samples, profiles.get('ring'), { models: l.models });
      log.info({ photos: samples.length, ms: Math.round(ms) }, 'pipeline warmed up');
    } catch (err) {
      // Only speed is at stake: a worker that cannot warm up on the samples still takes jobs, and reports each failure.
      log.warn({ err }, 'pipeline warm-up failed; the first photos run cold');
    } finally {
      l.release();
    }
  }

  const inspectPhoto: InspectPhoto = async (bytes, metadata, profile) => {
    // A lease per photo: a model promoted meanwhile is used from the next photo on, never halfway through one.
    const l = await registry.lease();
    try {
      await recordModels(l.models).catch((err: unknown) => log.warn({ err }, 'could not record a newly loaded model version'));
      return await inspect(bytes, metadata, profile, { models: l.models });
    } finally {
      l.release();
    }
  };

  const inspections = inspectionsDal(db.db);
  const webhooks = webhooksDal(db.db);
  const queue = createJobQueue(config, { onError: (err) => log.debug({ err: err.message }, 'worker producer redis error') });
  const emitter = createWebhookEmitter({ db: db.db, webhooks, queue, log });
  const lag = startLoopLagMonitor();
  const handler = inspectHandler({ inspections, photos, profiles, inspectPhoto, webhooks: emitter, log });
  // Trend alerts: each finished inspection may complete a signal on the casting charts (docs/trends.md).
  const trends =
    config.trends.checkIntervalMs > 0
      ? createSignalWatcher({ db: db.db, notify: webhookNotifier(emitter), minIntervalMs: config.trends.checkIntervalMs, log })
      : null;
  const deliver = webhookHandler({ webhooks, timeoutMs: config.webhooks.timeoutMs, log });
  const workers = startWorkers(
    config,
    {
      inspect: async (job) => {
        lag.reset();
        const result = await handler(job);
        if (result.outcome === 'done') trends?.poke();
        log.info({ inspectionId: job.id, eventLoopLag: lag.snapshot() }, 'event-loop delay during job');
        return result;
      },
      webhook: deliver,
    },
    (err) => log.warn({ err: err.message }, 'worker connection error'),
  );
  for (const w of workers) {
    w.on('failed', (job, err) => log.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'job failed'));
    w.on('stalled', (jobId) => log.warn({ jobId }, 'job stalled (its worker stopped renewing the lock); it will run again'));
  }
  const sweeper = startSweeper({ inspections, webhooks, queue, intervalMs: config.sweeper.intervalMs, graceMs: config.sweeper.graceMs, log });

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
        await trends?.stop();
        lag.stop();
        await queue.close();
        await registry.close();
        await db.close();
      })();
      return closing;
    },
  };
}
