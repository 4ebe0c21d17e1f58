import { Worker } from 'node:worker_threads';
import type { ManifestEntry } from '../manifest.schema.js';
import { renderSample, type RenderedSample } from './render-sample.js';
import type { WorkerConfig } from './worker-protocol.js';

/**
 * Renders indices [0, count) on `workers` threads (in-process when 1) and hands results to `onResult` in any
 * order; the caller restores index order. Each image depends only on (seed, index), so scheduling never changes bytes.
 */
export async function renderAll(config: WorkerConfig, count: number, workers: number, onResult: (s: RenderedSample) => Promise<void>): Promise<void> {
  if (workers <= 1 || count <= 1) {
    for (let index = 0; index < count; index++) await onResult(await renderSample({ ...config, index }));
    return;
  }
  const entry = new URL('./worker-entry.mjs', import.meta.url);
  let next = 0;
  let finished = 0;
  let failed: Error | null = null;
  const pool: Worker[] = [];
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      if (failed) return;
      failed = err;
      reject(err);
    };
    const feed = (w: Worker) => {
      if (failed || next >= count) return;
      w.postMessage({ index: next++ });
    };
    for (let k = 0; k < Math.min(workers, count); k++) {
      const w = new Worker(entry, { workerData: config });
      pool.push(w);
      w.on('message', (msg: WorkerReply) => {
        if (!msg.ok) return fail(new Error(`image ${msg.index} failed in a worker:\n${msg.error}`));
        const sample: RenderedSample = {
          index: msg.index,
          stem: msg.stem,
          jpeg: Buffer.from(msg.jpeg),
          masks: Object.fromEntries(Object.entries(msg.masks).map(([name, ab]) => [name, Buffer.from(ab)])),
          entry: msg.entry,
        };
        feed(w);
        onResult(sample).then(() => {
          finished++;
          if (finished === count) resolve();
        }, fail);
      });
      w.on('error', fail);
      w.on('exit', (code) => {
        if (code !== 0 && finished < count) fail(new Error(`synth worker exited with code ${code}`));
      });
      // Two tasks in flight per worker hide the round trip.
      feed(w);
      feed(w);
    }
  }).finally(async () => {
    await Promise.all(pool.map((w) => w.terminate()));
  });
}

type WorkerReply =
  | { ok: true; index: number; stem: string; jpeg: ArrayBuffer; masks: Record<string, ArrayBuffer>; entry: ManifestEntry }
  | { ok: false; index: number; error: string };
