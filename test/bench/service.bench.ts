/**
 * Service benchmark (issue 6), a plain script:
 *   npx tsx test/bench/service.bench.ts [--out bench/service.json] [--quick]
 * Needs Redis at TEST_REDIS_URL (default redis://127.0.0.1:6379). Uses SQLite in a temp folder, the real model when
 * models/loupe-seg exists (else the fixture model, said in the output), and a fresh BullMQ prefix per run.
 * Prints a table and writes the figures as JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import sharp from 'sharp';
import { loadConfig } from '../../core/config.schema.js';
import { freePort } from '../../core/local-redis.js';
import { jobOptions } from '../../core/queue.js';
import { openDatabase } from '../../core/store/db.js';
import { loadSampleUploads } from '../../api/demo/samples.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LOUPE = path.join(ROOT, 'cli/bin/loupe.js');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outFile = args.includes('--out') ? args[args.indexOf('--out') + 1]! : path.join(ROOT, 'bench', 'service.json');
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const realModel = fs.existsSync(path.join(ROOT, 'models/loupe-seg'));
const MODELS_DIR = realModel ? path.join(ROOT, 'models') : path.join(ROOT, 'test/fixtures/models');

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${s}\n`);

function envFor(dataDir: string, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    LOUPE_DATA_DIR: dataDir,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    MODELS_DIR,
    LOG_LEVEL: 'info',
    SWEEPER_INTERVAL_MS: '0',
    ...extra,
  };
}

function spawnLoupe(cmd: string, env: Record<string, string>): { proc: ChildProcess; out: () => string; ready: Promise<void> } {
  const proc = spawn(process.execPath, [LOUPE, cmd], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d.toString();
      if (/"msg":"(worker ready|API listening)"/.test(out)) resolve();
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', (c) => reject(new Error(`${cmd} exited ${c}:\n${out.slice(-2000)}`)));
  });
  return { proc, out: () => out, ready };
}
const stop = (p: ChildProcess) =>
  new Promise<void>((r) => {
    if (p.exitCode !== null) return r();
    p.once('exit', () => r());
    p.kill('SIGTERM');
  });

async function jpegOfSize(targetBytes: number, seed: number): Promise<Buffer> {
  // Noise at 2400×1800 JPEG q≈80 lands near 3 MB, like a station camera's photo of a textured piece.
  const w = 2400, h = 1800;
  const raw = Buffer.alloc(w * h * 3);
  let s = seed;
  for (let i = 0; i < raw.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    raw[i] = ((i / 3) % 256) / 2 + ((s >>> 24) & 0x7f);
  }
  for (let q = 90; q > 40; q -= 5) {
    const b = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: q }).toBuffer();
    if (b.length <= targetBytes * 1.1) return b;
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 40 }).toBuffer();
}

function form(metadata: object, photo: Buffer, name: string): FormData {
  const f = new FormData();
  f.append('metadata', JSON.stringify(metadata));
  f.append('photo', new Blob([new Uint8Array(photo)]), name);
  return f;
}
const meta = (i: number, mmPerPx = 0.01) => ({
  pieceId: `BENCH-${i}`,
  profile: 'ring',
  metal: 'au750_yellow',
  stationId: 'bench',
  casting: { tree: 'B' },
  views: [{ view: 'top', mmPerPx }],
});

async function upload(base: string, metadata: object, photo: Buffer): Promise<{ ms: number; id: string }> {
  const t = performance.now();
  const res = await fetch(`${base}/v1/inspections`, { method: 'POST', body: form(metadata, photo, 'p.jpg') });
  const body = (await res.json()) as { id: string };
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
  return { ms: performance.now() - t, id: body.id };
}

/** 1. Accepted uploads per second: `concurrency` clients sending 3 MB JPEGs back to back. */
async function uploadThroughput(base: string, photos: Buffer[], n: number, concurrency: number) {
  let next = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        lat.push((await upload(base, meta(i), photos[i % photos.length]!)).ms);
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  return { uploads: n, concurrency, photoMB: r1(photos[0]!.length / 1e6), perSecond: r1(n / s), p50Ms: r1(pct(lat, 50)), p99Ms: r1(pct(lat, 99)) };
}

/** 4. Accept latency under a steady rate (one upload every `everyMs`). */
async function steadyLatency(base: string, photos: Buffer[], count: number, everyMs: number) {
  const lat: number[] = [];
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    pending.push(upload(base, meta(100_000 + i), photos[i % photos.length]!).then((r) => void lat.push(r.ms)));
    await sleep(everyMs);
  }
  await Promise.all(pending);
  return { uploads: count, ratePerSecond: r1(1000 / everyMs), p50Ms: r1(pct(lat, 50)), p99Ms: r1(pct(lat, 99)), maxMs: r1(Math.max(...lat)) };
}

/** 2. BullMQ overhead with our job options and an InspectJob-sized payload, through a processor that does nothing. */
async function queueOverhead(n: number) {
  const prefix = `bench_q_${randomUUID().slice(0, 8)}`;
  const connection = { url: REDIS_URL, maxRetriesPerRequest: null };
  const config = loadConfig({ REDIS_URL, LOG_LEVEL: 'silent' });
  const queue = new Queue('inspect', { connection, prefix });
  const payload = {
    inspectionId: randomUUID(),
    profile: 'ring',
    metal: 'au750_yellow',
    views: [{ n: 0, view: 'top', photoKey: 'a'.repeat(64), mmPerPx: 0.01 }],
  };
  const addLat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await queue.add('inspect', payload, jobOptions(config, `job-${i}`));
    addLat.push(performance.now() - t);
  }
  const addS = (performance.now() - t0) / 1000;
  let done = 0;
  const t1 = performance.now();
  const finished = new Promise<void>((resolve) => {
    const worker = new Worker('inspect', async () => undefined, { connection, prefix, concurrency: 1 });
    worker.on('completed', () => {
      if (++done === n) void worker.close().then(resolve);
    });
  });
  await finished;
  const drainS = (performance.now() - t1) / 1000;
  await queue.obliterate({ force: true });
  await queue.close();
  return { jobs: n, addMsPerJob: r3((addS * 1000) / n), addP99Ms: r3(pct(addLat, 99)), processMsPerJob: r3((drainS * 1000) / n), jobsPerSecond: Math.round(n / drainS) };
}

async function twelveMegapixel(n: number): Promise<Array<{ photo: Buffer; mmPerPx: number }>> {
  const samples = (await loadSampleUploads()).filter((s) => s.entry.mmPerPx);
  const out: Array<{ photo: Buffer; mmPerPx: number }> = [];
  for (let i = 0; i < n; i++) {
    const s = samples[i % samples.length]!;
    const meta = await sharp(s.file).metadata();
    const k = 4000 / meta.width!;
    const photo = await sharp(s.file).resize(4000, Math.round(meta.height! * k), { kernel: 'lanczos3' }).jpeg({ quality: 92 }).toBuffer();
    out.push({ photo, mmPerPx: s.entry.mmPerPx! / k });
  }
  return out;
}

/** 3. End-to-end photos/s with `procs` worker processes, threads split so the cores are not oversubscribed. */
async function endToEnd(procs: number, photos: Array<{ photo: Buffer; mmPerPx: number }>) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-bench-'));
  const prefix = `bench_e_${randomUUID().slice(0, 8)}`;
  const port = await freePort();
  const api = spawnLoupe('serve', envFor(dataDir, prefix, { PORT: String(port) }));
  await api.ready;
  const base = `http://127.0.0.1:${port}`;
  const ids: string[] = [];
  for (const [i, p] of photos.entries()) ids.push((await upload(base, meta(i, p.mmPerPx), p.photo)).id);
  const threads = String(Math.max(1, Math.floor(os.availableParallelism() / procs)));
  const workers = Array.from({ length: procs }, () => spawnLoupe('worker', envFor(dataDir, prefix, { ORT_INTRA_OP_THREADS: threads })));
  await Promise.all(workers.map((w) => w.ready));
  const db = await openDatabase(loadConfig({ LOUPE_DATA_DIR: dataDir }).database);
  for (;;) {
    const rows = await db.db.selectFrom('inspections').select(['status']).execute();
    if (rows.every((r) => r.status === 'done' || r.status === 'failed')) break;
    await sleep(250);
  }
  const rows = await db.db.selectFrom('inspections').select(['started_at', 'finished_at', 'summary', 'status']).execute();
  await db.close();
  const start = Math.min(...rows.map((r) => Date.parse(String(r.started_at))));
  const end = Math.max(...rows.map((r) => Date.parse(String(r.finished_at))));
  const sums = { inference: 0, job: 0, decode: 0, quality: 0, preprocess: 0, postprocess: 0, io: 0 };
  for (const r of rows) {
    const t = (JSON.parse(String(r.summary)) as { timingsMs: Record<string, number> }).timingsMs;
    for (const k of Object.keys(sums) as Array<keyof typeof sums>) sums[k] += t[k] ?? 0;
  }
  const lags = workers.flatMap((w) => [...w.out().matchAll(/"eventLoopLag":\{"maxMs":([\d.]+)/g)].map((m) => Number(m[1])));
  await Promise.all(workers.map((w) => stop(w.proc)));
  await stop(api.proc);
  fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    workerProcesses: procs,
    ortThreadsEach: Number(threads),
    photos: rows.length,
    failed: rows.filter((r) => r.status !== 'done').length,
    photosPerSecond: r3(rows.length / ((end - start) / 1000)),
    modelShareOfWorkerTime: r3(sums.inference / sums.job),
    stageMsPerPhoto: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, r1(v / rows.length)])),
    eventLoopMaxLagMs: { max: Math.max(...lags), p50: pct(lags, 50) },
  };
}

async function main() {
  const results: Record<string, unknown> = { at: new Date().toISOString(), cpus: os.availableParallelism(), node: process.version, model: realModel ? 'models/ (real)' : 'test/fixtures/models (fixture)' };

  log('queue overhead ...');
  results.queue = await queueOverhead(quick ? 500 : 2000);

  log('uploads ...');
  const threeMB = await Promise.all([1, 2, 3, 4].map((s) => jpegOfSize(3_000_000, s)));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-bench-'));
  const prefix = `bench_u_${randomUUID().slice(0, 8)}`;
  const port = await freePort();
  const api = spawnLoupe('serve', envFor(dataDir, prefix, { PORT: String(port) }));
  await api.ready;
  const base = `http://127.0.0.1:${port}`;
  results.uploads = await uploadThroughput(base, threeMB, quick ? 20 : 60, 4);
  results.acceptIdle = await steadyLatency(base, threeMB, quick ? 10 : 30, 250);

  log('accept latency with workers busy ...');
  const big = await twelveMegapixel(quick ? 4 : 8);
  for (const [i, p] of big.entries()) await upload(base, meta(200_000 + i, p.mmPerPx), p.photo);
  const busyWorkers = [1, 2].map(() => spawnLoupe('worker', envFor(dataDir, prefix, { ORT_INTRA_OP_THREADS: '1' })));
  await Promise.all(busyWorkers.map((w) => w.ready));
  results.acceptBusy = await steadyLatency(base, threeMB, quick ? 10 : 30, 250);
  await Promise.all(busyWorkers.map((w) => stop(w.proc)));
  await stop(api.proc);
  fs.rmSync(dataDir, { recursive: true, force: true });

  log('end to end, 1 worker process ...');
  results.e2e1 = await endToEnd(1, big);
  log('end to end, 2 worker processes ...');
  results.e2e2 = await endToEnd(2, big);

  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  const q = results.queue as Awaited<ReturnType<typeof queueOverhead>>;
  const u = results.uploads as Awaited<ReturnType<typeof uploadThroughput>>;
  const ai = results.acceptIdle as Awaited<ReturnType<typeof steadyLatency>>;
  const ab = results.acceptBusy as Awaited<ReturnType<typeof steadyLatency>>;
  const e1 = results.e2e1 as Awaited<ReturnType<typeof endToEnd>>;
  const e2 = results.e2e2 as Awaited<ReturnType<typeof endToEnd>>;
  const rows: Array<[string, string, string]> = [
    ['uploads accepted / s (3 MB JPEG, 4 clients)', String(u.perSecond), `p50 ${u.p50Ms} ms, p99 ${u.p99Ms} ms`],
    ['queue: add, ms / job', String(q.addMsPerJob), `p99 ${q.addP99Ms} ms`],
    ['queue: empty processor, ms / job', String(q.processMsPerJob), `${q.jobsPerSecond} jobs/s (floor: ≤ 2 ms)`],
    ['end to end photos / s, 1 worker process', String(e1.photosPerSecond), `12 MP, ${e1.ortThreadsEach} ORT threads, model share ${e1.modelShareOfWorkerTime}`],
    ['end to end photos / s, 2 worker processes', String(e2.photosPerSecond), `12 MP, ${e2.ortThreadsEach} ORT thread each, model share ${e2.modelShareOfWorkerTime}`],
    ['share of worker time in the model', String(e1.modelShareOfWorkerTime), 'goal ≥ 0.75'],
    ['worker event-loop max lag per job, ms', String(e1.eventLoopMaxLagMs.max), `median ${e1.eventLoopMaxLagMs.p50} (lock renewal every ${loadConfig({}).worker.lockMs / 2} ms)`],
    ['accept latency, workers idle (4 uploads/s)', `${ai.p50Ms} / ${ai.p99Ms}`, 'p50 / p99 ms'],
    ['accept latency, workers busy (4 uploads/s)', `${ab.p50Ms} / ${ab.p99Ms}`, 'p50 / p99 ms'],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  console.log(`service bench (${results.model}, ${results.cpus} CPUs)`);
  for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
  console.log(`\nJSON: ${outFile}`);
}

await main();
