import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../core/config.schema.js';
import { freePort, redisAnswers, skipUnless, TEST_REDIS_URL, uniqueName } from '../core/support/env.js';

/**
 * What the Dockerfile does, without Docker (no engine or registry here): the files .dockerignore lets into the image
 * are copied to a clean folder, `npm ci --omit=dev` installs the production dependencies there, and the API and a
 * worker start from that folder as an unprivileged user; /readyz must answer 200.
 */

const redisUp = await redisAnswers();
const FIXTURE_MODELS = path.join(PROJECT_ROOT, 'test', 'fixtures', 'models');

/** .dockerignore as Docker reads it, for the forms it uses: `*`, `dir`, `!dir`, `**\/name`, `**\/*.ext`; last match wins. */
function dockerignore(): (rel: string) => boolean {
  const rules = fs
    .readFileSync(path.join(PROJECT_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => ({ include: l.startsWith('!'), pattern: l.replace(/^!/, '').replace(/\/$/, '') }));
  const matches = (pattern: string, rel: string) => {
    if (pattern === '*') return true;
    const segments = rel.split('/');
    if (pattern.startsWith('**/')) {
      const tail = pattern.slice(3);
      if (tail.startsWith('*.')) return rel.endsWith(tail.slice(1));
      return segments.includes(tail);
    }
    return rel === pattern || rel.startsWith(`${pattern}/`);
  };
  return (rel) => {
    let shipped = true;
    for (const r of rules) if (matches(r.pattern, rel)) shipped = r.include;
    return shipped;
  };
}

function copyShipped(dest: string): string[] {
  const shipped = dockerignore();
  const copied: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(PROJECT_ROOT, rel);
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === 'node_modules' || r === '.git') continue;
      if (e.isDirectory()) walk(r);
      else if (e.isFile() && shipped(r)) {
        fs.mkdirSync(path.join(dest, path.dirname(r)), { recursive: true });
        fs.copyFileSync(path.join(PROJECT_ROOT, r), path.join(dest, r));
        copied.push(r);
      }
    }
  };
  walk('');
  return copied;
}

/**
 * prebuild-install fetches better-sqlite3's binary from GitHub, which this machine cannot reach; it would then
 * compile SQLite (minutes). A local binary mirror (the variable Debian packagers and air-gapped sites use) serves
 * the binary this checkout already has for the same Node ABI, so the install stays offline-safe and quick.
 */
async function betterSqliteMirror(): Promise<{ env: Record<string, string>; served(): number; close(): Promise<void> } | null> {
  const built = path.join(PROJECT_ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  if (!fs.existsSync(built)) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-prebuild-'));
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(built, path.join(dir, 'build', 'Release', 'better_sqlite3.node'));
  const tarball = path.join(dir, 'prebuild.tar.gz');
  execFileSync('tar', ['-czf', tarball, '-C', dir, 'build']);
  let served = 0;
  const server = http.createServer((req, res) => {
    if (req.url?.endsWith(`-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`)) {
      served++;
      res.writeHead(200, { 'content-type': 'application/gzip' });
      fs.createReadStream(tarball).pipe(res);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    served: () => served,
    env: { npm_config_better_sqlite3_binary_host: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs as `loupe` (created if missing) when we are root, as ourselves (already unprivileged) otherwise. */
function unprivileged(): { wrap: (cmd: string[]) => string[]; uid: number; chownTo?: string } {
  if (process.getuid?.() !== 0) return { wrap: (cmd) => cmd, uid: process.getuid?.() ?? -1 };
  if (spawnSync('id', ['-u', 'loupe']).status !== 0) {
    execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', 'loupe']);
  }
  const uid = Number(execFileSync('id', ['-u', 'loupe'], { encoding: 'utf8' }).trim());
  return { wrap: (cmd) => ['setpriv', '--reuid=loupe', '--regid=loupe', '--init-groups', '--', ...cmd], uid, chownTo: 'loupe:loupe' };
}

function start(cmd: string[], env: NodeJS.ProcessEnv, cwd: string): { proc: ChildProcess; out: () => string } {
  const [bin, ...args] = cmd;
  const proc = spawn(bin!, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, out: () => out };
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs);
    p.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS'));
}

function uidOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
}

describe.skipIf(skipUnless(redisUp, 'Redis'))('production install (the Dockerfile, without Docker)', () => {
  let root: string;
  let mirror: Awaited<ReturnType<typeof betterSqliteMirror>>;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-prod-'));
    mirror = await betterSqliteMirror();
  });
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await mirror?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('installs production dependencies only, then serves /readyz 200 and runs a worker as a non-root user', { timeout: 240_000 }, async () => {
    const app = path.join(root, 'app');
    const copied = copyShipped(app);
    expect(copied).toContain('cli/bin/loupe.js');
    expect(copied).toContain('package-lock.json');
    expect(copied.some((f) => f.startsWith('test/'))).toBe(false);
    expect(copied.some((f) => f.startsWith('models/training/'))).toBe(false);

    const t0 = Date.now();
    // Asynchronously: the binary mirror answers from this process's event loop.
    const install = await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: app,
      // A clean environment, as in `docker build`: npm_* variables of the npx/npm running this test would leak into it.
      env: { ...cleanEnv(), ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false', ...(mirror?.env ?? {}) },
      timeoutMs: 200_000,
    });
    expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    console.log(`[production-install] npm ci --omit=dev: ${((Date.now() - t0) / 1000).toFixed(1)} s (better-sqlite3 binary from the local mirror: ${mirror?.served() ? 'yes' : 'no, compiled'})`);
    // tsx runs the CLI, so it is a production dependency; the test and type-check tools are not.
    for (const dep of ['tsx', 'fastify', 'better-sqlite3', 'onnxruntime-node', 'sharp', '@aws-sdk/client-s3', '@bull-board/fastify']) {
      expect(fs.existsSync(path.join(app, 'node_modules', dep, 'package.json')), dep).toBe(true);
    }
    for (const dev of ['vitest', 's3rver', '@types/node']) expect(fs.existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);

    // The image's layout: code read-only to the service user, one writable data folder.
    const user = unprivileged();
    const data = path.join(root, 'data');
    fs.mkdirSync(data);
    fs.chmodSync(root, 0o755);
    if (user.chownTo) execFileSync('chown', ['-R', user.chownTo, data]);
    const hasModel = fs.readdirSync(path.join(app, 'models'), { withFileTypes: true }).some(
      (d) => d.isDirectory() && fs.existsSync(path.join(app, 'models', d.name)) && fs.readdirSync(path.join(app, 'models', d.name)).some((v) => fs.existsSync(path.join(app, 'models', d.name, v, 'model.json'))),
    );
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: data,
      NODE_ENV: 'production',
      LOUPE_DATA_DIR: data,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: uniqueName('loupe_prod'),
      HOST: '127.0.0.1',
      PORT: String(port),
      // The shipped models once a trained one is in models/; until then the fixture model, so readiness can pass.
      MODELS_DIR: hasModel ? path.join(app, 'models') : FIXTURE_MODELS,
      ORT_INTRA_OP_THREADS: '1',
      LOG_LEVEL: 'info',
    };
    const api = start(user.wrap([process.execPath, 'cli/bin/loupe.js', 'serve']), env, app);
    procs.push(api.proc);
    const deadline = Date.now() + 90_000;
    let ready: Response | null = null;
    while (Date.now() < deadline && api.proc.exitCode === null) {
      try {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (ready.status === 200) break;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(ready?.status, api.out().slice(-3000)).toBe(200);
    expect(((await ready!.json()) as { ready: boolean }).ready).toBe(true);
    expect(uidOf(api.proc.pid!)).toBe(user.uid);
    expect(user.uid).not.toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/v1/inspections`)).status).toBe(401);

    // The worker as the image starts it: its ENTRYPOINT, a shell script that sets the allocator and execs node.
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(fs.readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8'))![1]!) as string[];
    const worker = start(user.wrap([...entrypoint, 'worker']), env, app);
    procs.push(worker.proc);
    const wDeadline = Date.now() + 90_000;
    while (!/"msg":"worker ready"/.test(worker.out()) && worker.proc.exitCode === null && Date.now() < wDeadline) await new Promise((r) => setTimeout(r, 300));
    expect(worker.out(), worker.out().slice(-3000)).toMatch(/"msg":"worker ready"/);
    expect(worker.out()).toMatch(/"mallocTuned":true/);
    expect(uidOf(worker.proc.pid!)).toBe(user.uid);

    for (const p of [api.proc, worker.proc]) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    expect(api.proc.exitCode).toBe(0);
    // exec, not a wrapper: SIGTERM reached node itself, which drained and exited cleanly.
    expect(worker.proc.exitCode).toBe(0);
  });
});
