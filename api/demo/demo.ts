import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, PROJECT_ROOT } from '../../core/config.schema.js';
import { findOnPath, freePort, redisAnswers, startLocalRedis, type LocalRedis } from '../../core/local-redis.js';
import { seedDemoHistory } from './history.js';
import { hasSamples, loadSampleUploads, SAMPLES_DIR, uploadSample, type SampleUpload } from './samples.js';

/**
 * `loupe demo`: the whole service on one machine, driven through its real HTTP API. Starts what is missing (Redis),
 * seeds 90 days of history for the casting report (once), runs `loupe serve` and `loupe worker` as child processes
 * exactly as production would, uploads the committed samples, waits for their reports and prints them.
 */

const LOUPE = fileURLToPath(new URL('../../cli/bin/loupe.js', import.meta.url));
const FIXTURE_MODELS = path.join(PROJECT_ROOT, 'test', 'fixtures', 'models');
/**
 * Each sample is one photo (top or oblique) of a piece of its own, so it can never carry the two views the default
 * ring and band profiles require: the demo judges it as a one-view piece (the tolerances stay the defaults').
 */
const DEMO_PROFILES = fileURLToPath(new URL('./profiles.demo.json', import.meta.url));

const say = (s = '') => process.stdout.write(`${s}\n`);

function hasModel(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((id) => {
      const idDir = path.join(dir, id);
      return fs.statSync(idDir).isDirectory() && fs.readdirSync(idDir).some((v) => fs.existsSync(path.join(idDir, v, 'model.json')));
    });
  } catch {
    return false;
  }
}

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** A redis-server binary, installing Debian's package when we are root and apt-get exists. */
function ensureRedisServer(): string | null {
  const found = findOnPath('redis-server');
  if (found) return found;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && findOnPath('apt-get')) {
    say('redis-server is not installed; installing Debian\'s redis-server package (apt-get) ...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { stdio: 'inherit', env });
    if (r.status === 0) return findOnPath('redis-server');
  }
  return null;
}

function startChild(name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [LOUPE, ...args], { env, stdio: ['ignore', out, out] });
  child.on('exit', (code, signal) => {
    if (!stopping) say(`  ${name} exited (${signal ?? code}); see ${logFile}`);
  });
  return child;
}
let stopping = false;

async function waitHttp(url: string, timeoutMs: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

interface Outcome {
  s: SampleUpload;
  id: string;
  body: any;
}

function describeFindings(report: any): string {
  if (!report) return '';
  const parts: string[] = [];
  // What counted only (the API states `belowGate` on every finding); the rest is one count at the end.
  const counted = <T extends { belowGate?: boolean }>(fs: T[]) => fs.filter((f) => !f.belowGate);
  const fams = [report.families.porosity, report.families.stone_spacing, report.families.polish] as Array<{ findings: Array<{ belowGate?: boolean }> }>;
  const below = fams.reduce((n, fam) => n + fam.findings.length - counted(fam.findings).length, 0);
  const pores = counted(report.families.porosity.findings as Array<{ diameterMm: number; belowGate?: boolean }>);
  if (pores.length) parts.push(`${pores.length} pore(s), largest ⌀${Math.max(...pores.map((p) => p.diameterMm)).toFixed(2)} mm`);
  const spacing = new Map<string, number[]>();
  for (const f of counted(report.families.stone_spacing.findings as Array<{ kind: string; gapMm?: number; deviationMm?: number; belowGate?: boolean }>)) {
    const sizes = spacing.get(f.kind) ?? [];
    const size = f.deviationMm ?? f.gapMm;
    if (size !== undefined) sizes.push(size);
    spacing.set(f.kind, sizes);
  }
  for (const [kind, sizes] of spacing) {
    const worst = sizes.length ? sizes.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)) : undefined;
    parts.push(`${kind}${worst === undefined ? '' : ` ${worst >= 0 ? '+' : ''}${worst.toFixed(2)} mm`}`);
  }
  const polish = counted(report.families.polish.findings as Array<{ kind: string; lengthMm?: number; areaMm2?: number; belowGate?: boolean }>);
  const byKind = new Map<string, number>();
  for (const f of polish) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  for (const [k, n] of byKind) parts.push(`${n} ${k}`);
  if (!report.quality.ok) parts.push(`retake: ${report.quality.reasons.map((r: { code: string }) => r.code).join(', ')}`);
  if (below > 0) parts.push(`${below} below gate, not counted`);
  const text = parts.join('; ') || 'no findings';
  return text.length > 70 ? `${text.slice(0, 69)}…` : text;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ');
    return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

export async function runDemo(opts: { once: boolean; timeoutMs: number }): Promise<number> {
  const config = loadConfig();
  const logsDir = path.join(config.dataDir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  let redis: LocalRedis | null = null;
  const children: ChildProcess[] = [];

  const cleanup = async () => {
    stopping = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const force = setTimeout(() => c.kill('SIGKILL'), 15_000);
            c.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    await redis?.stop();
  };

  try {
    if (!hasSamples()) {
      say(`No samples at ${SAMPLES_DIR}/manifest.jsonl: nothing to upload.`);
      return 2;
    }
    // 1. Redis: the configured one if it answers, else a private one under the data folder.
    let redisUrl = config.redisUrl;
    if (await redisAnswers(redisUrl)) {
      say(`Redis: using ${redisUrl}`);
    } else {
      const binary = ensureRedisServer();
      if (!binary) {
        say(`No Redis answers at ${redisUrl} and redis-server is not installed.`);
        say('Install it and run the demo again:');
        say('  Debian/Ubuntu:  sudo apt-get install -y redis-server');
        say('  macOS:          brew install redis');
        say('or point REDIS_URL at a running Redis (redis://host:6379).');
        return 3;
      }
      redis = await startLocalRedis({ dir: path.join(config.dataDir, 'redis'), appendOnly: true, binary });
      redisUrl = redis.url;
      say(`Redis: started ${binary} on ${redisUrl} (AOF on, data in ${path.join(config.dataDir, 'redis')})`);
    }

    // 2. Models: MODELS_DIR if set, else the project's trained model, else the hand-crafted fixture (loudly).
    let modelsDir = config.modelsDir;
    if (!process.env.MODELS_DIR && !hasModel(modelsDir)) {
      modelsDir = FIXTURE_MODELS;
      say(`Models: no trained model under ${config.modelsDir} yet; using the hand-crafted fixture model (${modelsDir}).`);
      say('        Its verdicts only show the plumbing works; they are not meaningful.');
    } else {
      say(`Models: ${modelsDir}`);
    }

    say(
      config.profilesFile
        ? `Profiles: ${config.profilesFile} over the defaults`
        : 'Profiles: the defaults, but no view required (each sample is one photo of its own piece; rings and bands need top + oblique in production)',
    );

    // History for the casting report, before the API and worker start (seeded once per database).
    await seedDemoHistory(config.database, say);

    // 3. API and worker, as child processes.
    const port = (await portFree(config.port, config.host)) ? config.port : await freePort();
    // Every request needs a key: the demo runs the API with a bootstrap admin key of its own (new each run, unless
    // LOUPE_BOOTSTRAP_ADMIN_KEY is set) and prints it, so the URLs below can be opened with it.
    const apiKey = process.env.LOUPE_BOOTSTRAP_ADMIN_KEY ?? `demo-${randomBytes(24).toString('base64url')}`;
    const auth = { authorization: `Bearer ${apiKey}` };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOUPE_BOOTSTRAP_ADMIN_KEY: apiKey,
      REDIS_URL: redisUrl,
      MODELS_DIR: modelsDir,
      PORT: String(port),
      HOST: config.host,
      LOUPE_DATA_DIR: config.dataDir,
      LOUPE_PROFILES: config.profilesFile ?? DEMO_PROFILES,
    };
    const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    const api = startChild('API', ['serve'], env, path.join(logsDir, 'api.log'));
    children.push(api);
    const worker = startChild('worker', ['worker'], { ...env, ORT_INTRA_OP_THREADS: process.env.ORT_INTRA_OP_THREADS ?? String(os.availableParallelism()) }, path.join(logsDir, 'worker.log'));
    children.push(worker);
    if (!(await waitHttp(`${base}/healthz`, 60_000, api))) {
      say(`The API did not come up; see ${path.join(logsDir, 'api.log')}`);
      return 4;
    }
    say(`API: ${base} (logs: ${logsDir})`);

    // 4. Upload every sample through HTTP.
    const samples = await loadSampleUploads();
    const run = Date.now().toString(36);
    const accepted: Outcome[] = [];
    for (const s of samples) {
      const r = await uploadSample(base, s, { idempotencyKey: `demo-${run}-${s.name}`, apiKey });
      if (r.status !== 202) {
        say(`  upload of ${s.name} refused: ${r.status} ${JSON.stringify(r.body)}`);
        continue;
      }
      accepted.push({ s, id: r.id, body: null });
    }
    say(`Uploaded ${accepted.length} of ${samples.length} samples; waiting for the reports ...`);

    // 5. Wait for the reports.
    const deadline = Date.now() + opts.timeoutMs;
    let lastDone = -1;
    while (Date.now() < deadline) {
      await Promise.all(
        accepted.map(async (a) => {
          if (a.body && (a.body.status === 'done' || a.body.status === 'failed')) return;
          a.body = await (await fetch(`${base}/v1/inspections/${a.id}`, { headers: auth })).json();
        }),
      );
      const done = accepted.filter((a) => a.body?.status === 'done' || a.body?.status === 'failed').length;
      if (done !== lastDone) {
        say(`  ${done}/${accepted.length} finished`);
        lastDone = done;
      }
      if (done === accepted.length) break;
      if (worker.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    // 6. The table and the URLs.
    const rows = [['sample', 'expected', 'photo', 'piece', 'findings', 'report']];
    for (const a of accepted) {
      const view = a.body?.views?.[0];
      const piece = a.body?.status === 'done' ? `${a.body.verdict}${a.body.missingViews?.length ? ` (no ${a.body.missingViews.join('/')})` : ''}` : (a.body?.status ?? '?');
      rows.push([
        a.s.name,
        a.s.expected,
        view?.verdict ?? '-',
        piece,
        a.body?.status === 'failed' ? `FAILED: ${a.body.failureReason}` : describeFindings(view?.report),
        `${base}/v1/inspections/${a.id}`,
      ]);
    }
    say();
    say(table(rows));
    say();
    const withFindings = accepted.find((a) => a.body?.views?.[0]?.overlayUrl && a.s.expected !== 'clean') ?? accepted[0];
    say(`API key of this demo (admin; send it as "Authorization: Bearer <key>", or POST it to /v1/session for a cookie):`);
    say(`  ${apiKey}`);
    say(`  e.g. curl -H 'authorization: Bearer ${apiKey}' ${base}/v1/inspections`);
    say();
    say('Open:');
    say(`  API docs (OpenAPI):   ${base}/docs`);
    say(`  all inspections:      ${base}/v1/inspections`);
    if (withFindings?.body?.views?.[0]?.overlayUrl) say(`  an overlay:           ${base}${withFindings.body.views[0].overlayUrl}`);
    if (withFindings) say(`  a piece's history:    ${base}/v1/pieces/${encodeURIComponent(withFindings.s.metadata.pieceId)}`);
    say(`  casting report:       ${base}/reports/casting?groupBy=caster (the last 90 days)`);
    say(`  metrics:              ${base}/metrics`);
    say(`  readiness:            ${base}/readyz`);
    say(`  queue dashboard:      ${base}/admin/queues (admin; sign in with POST /v1/session first)`);

    const complete = accepted.length === samples.length && accepted.every((a) => a.body?.status === 'done');
    if (opts.once) {
      say(complete ? `\nEvery sample got its report (${accepted.length}).` : '\nNot every sample got its report.');
      return complete ? 0 : 1;
    }
    say('\nServing until Ctrl-C ...');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    return 0;
  } finally {
    await cleanup();
  }
}
