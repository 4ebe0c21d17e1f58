import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Config } from '../core/config.schema.js';
import { QUEUE_NAMES, type JobName } from '../core/jobs.schema.js';

export type Processor = (job: Job) => Promise<unknown>;
/** Every job name must have a handler: the type refuses a missing one at compile time, `startWorkers` at run time. */
export type HandlerMap = { [N in JobName]: Processor };

/**
 * One BullMQ Worker per queue. Lock duration and stalled-job checks come from config: a worker that dies mid-job
 * stops renewing its lock, and after JOB_LOCK_MS another worker's stalled check puts the job back in the queue.
 */
export function startWorkers(config: Config, handlers: HandlerMap, onError: (err: Error) => void): Worker[] {
  return (Object.keys(QUEUE_NAMES) as JobName[]).map((name) => {
    const handler = handlers[name];
    if (typeof handler !== 'function') throw new Error(`no handler for job "${name}"`);
    const worker = new Worker(
      QUEUE_NAMES[name],
      async (job) => {
        if (job.name !== name) throw new UnrecoverableError(`queue "${QUEUE_NAMES[name]}" holds a "${job.name}" job it has no handler for`);
        return handler(job);
      },
      {
        connection: { url: config.redisUrl, maxRetriesPerRequest: null },
        prefix: config.queuePrefix,
        concurrency: config.worker.concurrency,
        lockDuration: config.worker.lockMs,
        stalledInterval: config.worker.stalledIntervalMs,
        maxStalledCount: 2,
        autorun: true,
      },
    );
    worker.on('error', onError);
    return worker;
  });
}
