import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Event-loop delay of the worker process. BullMQ renews job locks from this loop; a long synchronous stretch
 * (tensor post-processing) delays renewal, and past JOB_LOCK_MS the job is declared stalled and run twice.
 * The figure is logged per job so a regression shows up in the logs, not as duplicate work.
 */
export function startLoopLagMonitor(resolutionMs = 10): { snapshot(): { maxMs: number; p99Ms: number; meanMs: number }; reset(): void; stop(): void } {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  return {
    snapshot: () => ({
      maxMs: Math.round(h.max / 1e5) / 10,
      p99Ms: Math.round(h.percentile(99) / 1e5) / 10,
      meanMs: Math.round(h.mean / 1e5) / 10,
    }),
    reset: () => h.reset(),
    stop: () => h.disable(),
  };
}
