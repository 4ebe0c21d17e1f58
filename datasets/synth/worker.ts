import { parentPort, workerData } from 'node:worker_threads';
import { renderSample } from './render-sample.js';
import { WorkerConfigSchema, WorkerTaskSchema } from './worker-protocol.js';

/** Renders the indices it is sent; replies with bytes and the manifest entry, or the error message. */
const config = WorkerConfigSchema.parse(workerData);
const port = parentPort;
if (!port) throw new Error('synth worker started outside a worker thread');

port.on('message', async (raw: unknown) => {
  const { index } = WorkerTaskSchema.parse(raw);
  try {
    const sample = await renderSample({ ...config, index });
    const transfer = [sample.jpeg, ...Object.values(sample.masks)].map((b) => toArrayBuffer(b));
    port.postMessage({ ok: true, index, stem: sample.stem, jpeg: transfer[0], masks: Object.fromEntries(Object.keys(sample.masks).map((k, j) => [k, transfer[j + 1]])), entry: sample.entry }, transfer);
  } catch (err) {
    port.postMessage({ ok: false, index, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});

function toArrayBuffer(b: Buffer): ArrayBuffer {
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return ab;
}
