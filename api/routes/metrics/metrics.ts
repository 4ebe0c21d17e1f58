import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JobQueue } from '../../../core/queue.js';
import type { InspectionsDal } from '../../../core/store/inspections-dal.js';

/**
 * Prometheus metrics of one API instance, in its own registry (tests build many apps in one process).
 * Queue depth and inspection counts are read from Redis and the database at scrape time, so they describe the whole
 * deployment, not this instance: with several API instances, aggregate them with max(), not sum().
 * Stage durations come from the reports' timings: each scrape observes the inspections finished since the previous
 * one, so the histogram covers every worker on every host without workers exposing a port.
 */
export function createMetrics(deps: { queue: JobQueue; inspections: InspectionsDal }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'loupe_api_' });

  const http = new Histogram({
    name: 'loupe_http_request_duration_seconds',
    help: 'API request latency by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  // Its own ping: prom-client collects all metrics concurrently, so it cannot read what queue_jobs' collect found.
  new Gauge({
    name: 'loupe_queue_up',
    help: '1 when Redis answers this scrape.',
    registers: [registry],
    async collect() {
      try {
        await deps.queue.ping();
        this.set(1);
      } catch {
        this.set(0);
      }
    },
  });
  new Gauge({
    name: 'loupe_queue_jobs',
    help: 'Jobs in the queue by state.',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const queue of ['inspect', 'webhook'] as const) {
          const counts = await deps.queue.counts(queue);
          for (const [state, n] of Object.entries(counts)) this.set({ queue, state }, n);
        }
      } catch {
        // Redis down: no depth to report; loupe_queue_up says so.
      }
    },
  });

  new Gauge({
    name: 'loupe_inspections',
    help: 'Inspections in the database by status and piece verdict.',
    labelNames: ['status', 'verdict'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await deps.inspections.countsByStatusAndVerdict()) {
        this.set({ status: row.status, verdict: row.verdict ?? 'none' }, row.count);
      }
    },
  });

  let watermark = new Date().toISOString();
  new Histogram({
    name: 'loupe_job_stage_seconds',
    help: 'Worker time per pipeline stage and per job (stage="job"), from the timings in finished reports.',
    labelNames: ['stage'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
    async collect() {
      for (;;) {
        const batch = await deps.inspections.finishedSince(watermark, 500);
        for (const row of batch) {
          for (const [stage, ms] of Object.entries(row.summary?.timingsMs ?? {})) this.observe({ stage }, ms / 1000);
          watermark = row.finishedAt;
        }
        if (batch.length < 500) break;
      }
    },
  });

  return {
    registry,
    observeHttp(method: string, route: string, status: number, seconds: number) {
      http.observe({ method, route, status: String(status) }, seconds);
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
