import { Queue, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.schema.js';
import { ServiceUnavailableError } from './errors.js';
import { JOB_SCHEMAS, QUEUE_NAMES, type JobName, type JobPayload } from './jobs.schema.js';

export type JobStateName = 'waiting' | 'delayed' | 'active' | 'prioritized' | 'waiting-children' | 'completed' | 'failed' | 'unknown';

export interface JobQueue {
  /** Validates the payload against the job map and adds it under `jobId`; a second add of the same id is a no-op. */
  enqueue<N extends JobName>(name: N, data: JobPayload<N>, jobId: string): Promise<void>;
  /** Throws ServiceUnavailableError when Redis does not answer right now. */
  ping(): Promise<void>;
  /** The job's state, or `missing` when Redis no longer has it (wiped, evicted, removed). */
  state(name: JobName, jobId: string): Promise<JobStateName | 'missing'>;
  failedReason(name: JobName, jobId: string): Promise<string | null>;
  counts(name: JobName): Promise<Record<string, number>>;
  /**
   * A lease of `ttlMs` under `name` that at most one holder has at a time, across hosts (SET NX PX): lets one of many
   * worker processes do a periodic chore. Expires on its own, so a crashed holder never blocks the others.
   */
  tryLease(name: string, ttlMs: number): Promise<boolean>;
  /** The BullMQ queues themselves, one per job name (the admin dashboard reads them). */
  bullQueues(): Queue[];
  close(): Promise<void>;
}

/**
 * A producer connection fails fast: with ioredis' offline queue disabled, a command sent while Redis is down errors
 * at once instead of waiting for a reconnect, so an upload can answer 503 rather than hang.
 */
export function producerRedisOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  };
}

export function jobOptions(config: Config, jobId: string, name: JobName = 'inspect'): JobsOptions {
  // Webhook receivers are other people's servers: more attempts, spread over longer, than our own inspections.
  const retry = name === 'webhook' ? config.webhooks : config.jobs;
  return {
    jobId,
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    // The database keeps the outcome; Redis keeps finished jobs only long enough to debug them.
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ServiceUnavailableError(`${what}: Redis did not answer within ${ms} ms`, 'queue_unavailable')), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function unavailable(what: string, err: unknown): ServiceUnavailableError {
  if (err instanceof ServiceUnavailableError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new ServiceUnavailableError(`${what}: the job queue (Redis) is unreachable (${reason}); retry later`, 'queue_unavailable');
}

export function createJobQueue(config: Config, opts: { onError?: (err: Error) => void } = {}): JobQueue {
  const redis = new Redis(config.redisUrl, producerRedisOptions());
  redis.on('error', (err) => opts.onError?.(err));
  const queues = new Map<JobName, Queue>();
  const queueOf = (name: JobName): Queue => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(QUEUE_NAMES[name], { connection: redis, prefix: config.queuePrefix });
      q.on('error', (err) => opts.onError?.(err));
      queues.set(name, q);
    }
    return q;
  };
  const timeoutMs = config.upload.enqueueTimeoutMs;
  // Without the offline queue a command sent before the (lazy) connection is up fails at once, so the first
  // upload after start-up, or the first after a Redis restart, waits for the connection, at most `timeoutMs`.
  const connected = async (what: string) => {
    if (redis.status === 'ready') return;
    let onReady: (() => void) | undefined;
    try {
      await withTimeout(new Promise<void>((resolve) => redis.once('ready', (onReady = resolve))), timeoutMs, what);
    } finally {
      if (onReady) redis.off('ready', onReady);
    }
  };

  return {
    async enqueue(name, data, jobId) {
      const payload = JOB_SCHEMAS[name].parse(data);
      try {
        await connected('enqueue');
        await withTimeout(queueOf(name).add(name, payload, jobOptions(config, jobId, name)), timeoutMs, 'enqueue');
      } catch (err) {
        throw unavailable('enqueue', err);
      }
    },
    async ping() {
      try {
        await connected('ping');
        await withTimeout(redis.ping(), timeoutMs, 'ping');
      } catch (err) {
        throw unavailable('ping', err);
      }
    },
    async state(name, jobId) {
      await connected('job state');
      const job = await withTimeout(queueOf(name).getJob(jobId), timeoutMs, 'job state');
      if (!job) return 'missing';
      return (await job.getState()) as JobStateName;
    },
    async failedReason(name, jobId) {
      await connected('job state');
      const job = await withTimeout(queueOf(name).getJob(jobId), timeoutMs, 'job state');
      return job?.failedReason ?? null;
    },
    async counts(name) {
      await connected('job counts');
      return withTimeout(
        queueOf(name).getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'),
        timeoutMs,
        'job counts',
      );
    },
    async tryLease(name, ttlMs) {
      await connected('lease');
      const ok = await withTimeout(redis.set(`${config.queuePrefix}:lease:${name}`, String(process.pid), 'PX', ttlMs, 'NX'), timeoutMs, 'lease');
      return ok === 'OK';
    },
    bullQueues() {
      return (Object.keys(QUEUE_NAMES) as JobName[]).map(queueOf);
    },
    async close() {
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      redis.disconnect();
    },
  };
}
