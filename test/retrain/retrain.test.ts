import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadSample, type SampleUpload } from '../../api/demo/samples.js';
import { auditDal } from '../../core/store/audit-dal.js';
import { ComparisonSchema } from '../../models/retrain/compare.js';
import { ModelManifestSchema } from '../../pipeline/model-manifest.schema.js';
import { createModelRegistry } from '../../pipeline/registry.js';
import { InspectionReportSchema } from '../../pipeline/report.schema.js';
import { testApp, type TestApp } from '../api/support/test-app.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { PYTHON, redisAnswers, skipUnless, torchAvailable } from '../core/support/env.js';
import { spawnWorker, type WorkerChild } from '../e2e/support/processes.js';
import { getJson, samplesForE2e, waitFor } from '../e2e/support/stack.js';

/**
 * `loupe train` → `loupe models promote` → a running worker, on a tiny generated set and a base model made here with
 * `train.py --smoke`, in a temp models folder (the repo's models/ is never touched). Needs /usr/bin/python3 with
 * torch, and Redis for the worker part; outside CI their absence skips with a message, in CI it fails.
 */

const ROOT = join(import.meta.dirname, '../..');
const LOUPE = join(ROOT, 'cli/bin/loupe.js');
const TRAIN_PY = join(ROOT, 'models/training/train.py');
const ID = 'loupe-seg';

const hasTorch = torchAvailable();
const skipTorch = skipUnless(hasTorch, `${PYTHON} with torch and onnx`);
const redisUp = await redisAnswers();

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real CLI as a child process (async, so the worker's logs keep flowing meanwhile). */
function loupe(args: string[], env: Record<string, string> = {}, timeoutMs = 150_000): Promise<Cli> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOUPE, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`loupe ${args.join(' ')} timed out:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** Rewrites line `n` (1-based) of a folder's manifest. */
function editManifestLine(dir: string, n: number, edit: (line: string) => string): void {
  const path = join(dir, 'manifest.jsonl');
  const lines = readFileSync(path, 'utf8').split('\n');
  lines[n - 1] = edit(lines[n - 1]!);
  writeFileSync(path, lines.join('\n'));
}

describe.skipIf(skipTorch)('loupe train: labelled folders + a base model → a new, evaluated version', () => {
  let tmp: string;
  let models: string;
  let runs: string;
  let train: string;
  let val: string;

  beforeAll(() => {
    expect(hasTorch, `${PYTHON} cannot import torch and onnx (CI must install python3-torch python3-onnx)`).toBe(true);
    tmp = mkdtempSync(join(tmpdir(), 'loupe-retrain-'));
    models = join(tmp, 'models');
    runs = join(tmp, 'runs');
    train = join(tmp, 'train');
    val = join(tmp, 'val');
    execFileSync(process.execPath, [LOUPE, 'synth', '--out', train, '--count', '8', '--seed', '5', '--size', '384'], { stdio: 'pipe', timeout: 90_000 });
    execFileSync(process.execPath, [LOUPE, 'synth', '--out', val, '--count', '4', '--seed', '6', '--size', '384'], { stdio: 'pipe', timeout: 90_000 });
    // The base: a smoke run exported into the temp models folder, as a shipped version would be.
    // prettier-ignore
    execFileSync(PYTHON, [TRAIN_PY, '--smoke', '--steps', '6', '--data', train, '--val', val, '--out', join(models, ID, '0.1.0'),
      '--run', 'base', '--runs-dir', runs, '--seed', '2'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  }, 240_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses a mislabelled folder before training, naming the manifest line (dataset check and train)', async () => {
    const bad = join(tmp, 'mislabelled');
    cpSync(train, bad, { recursive: true });
    // Line 3 claims the opposite of what its defects and masks say about polish.
    editManifestLine(bad, 3, (l) => {
      const e = JSON.parse(l);
      e.labels.polish = !e.labels.polish;
      return JSON.stringify(e);
    });
    const check = await loupe(['dataset', 'check', bad]);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/manifest\.jsonl:3: .*labels\.polish/);

    const t = await loupe(['train', '--data', bad, '--val', val, '--base', ID, '--models', models, '--runs-dir', runs, '--smoke', '--steps', '4']);
    expect(t.code, t.stdout + t.stderr).toBe(1);
    expect(t.stderr).toMatch(/mislabelled\/manifest\.jsonl:3: .*labels\.polish/);
    expect(t.stderr).toMatch(/refusing to train.*nothing was trained/);
    expect(t.stderr).not.toMatch(/step \d+\//);
    expect(readdirSync(runs)).toEqual(['base']); // no run folder: train.py never started
    expect(readdirSync(join(models, ID)).sort()).toEqual(['0.1.0']);
  });

  it('refuses a corrupt folder (a truncated manifest line, a missing image) naming each line', async () => {
    const bad = join(tmp, 'corrupt');
    cpSync(train, bad, { recursive: true });
    editManifestLine(bad, 2, (l) => l.slice(0, 40));
    const fifth = JSON.parse(readFileSync(join(bad, 'manifest.jsonl'), 'utf8').split('\n')[4]!);
    rmSync(join(bad, fifth.file));
    const t = await loupe(['train', '--data', bad, '--base', ID, '--models', models, '--runs-dir', runs, '--smoke']);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/corrupt\/manifest\.jsonl:2: not valid JSON/);
    expect(t.stderr).toMatch(/corrupt\/manifest\.jsonl:5: .*file not found/);
    expect(readdirSync(runs)).toEqual(['base']);
  });

  it('refuses a validation photo that is a training photo under another name, naming its line', async () => {
    const leaky = join(tmp, 'leaky-val');
    cpSync(val, leaky, { recursive: true });
    const first = JSON.parse(readFileSync(join(train, 'manifest.jsonl'), 'utf8').split('\n')[0]!);
    const copy = { ...first, file: 'images/renamed-copy.jpg' };
    cpSync(join(train, first.file), join(leaky, copy.file));
    for (const m of Object.values(first.masks ?? {})) if (typeof m === 'string') cpSync(join(train, m), join(leaky, m));
    const manifest = readFileSync(join(leaky, 'manifest.jsonl'), 'utf8').trimEnd().split('\n');
    writeFileSync(join(leaky, 'manifest.jsonl'), [...manifest, JSON.stringify(copy)].join('\n') + '\n');
    const t = await loupe(['train', '--data', train, '--val', leaky, '--base', ID, '--models', models, '--runs-dir', runs, '--smoke', '--steps', '4']);
    expect(t.code, t.stdout + t.stderr).toBe(1);
    expect(t.stderr).toContain(`leaky-val/manifest.jsonl:${manifest.length + 1}: images/renamed-copy.jpg: same bytes as training photo ${join(train, first.file)}`);
    expect(t.stderr).toMatch(/refusing to train: 1 validation photo\(s\) are byte for byte training photos/);
    expect(readdirSync(runs)).toEqual(['base']);
  });

  it('fine-tunes a few steps into a new version the registry loads, with old-vs-new metrics, without promoting it', async () => {
    const t = await loupe(['train', '--data', train, '--val', val, '--base', ID, '--models', models, '--runs-dir', runs, '--smoke', '--steps', '6']);
    expect(t.code, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toMatch(/base loupe-seg@0\.1\.0 → new loupe-seg@0\.2\.0/);
    expect(t.stdout).toMatch(/0\.1\.0 \(base\) vs 0\.2\.0 \(new\) on 4 validation images/);
    expect(t.stdout).toMatch(/porosity \(\d+\+\/\d+-\)\s+accuracy/);
    expect(t.stderr).toMatch(/step 6\/6/); // the progress bar, read from train.py's log lines

    const dir = join(models, ID, '0.2.0');
    const manifest = ModelManifestSchema.parse(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
    expect(manifest.version).toBe('0.2.0');
    // Gates re-set through the pipeline on the validation photos, for balanced accuracy.
    expect(manifest.operatingPoints.imageGates).toMatchObject({ objective: 'balanced', photos: 4 });
    for (const [channel, g] of Object.entries(manifest.operatingPoints.imageGates!.stats)) {
      const op = channel === 'porosity' ? manifest.operatingPoints.porosity : manifest.operatingPoints.polish?.[channel];
      expect(op?.imageThreshold).toBe(g.threshold);
    }
    const comparison = ComparisonSchema.parse(manifest.metrics.comparison);
    expect(comparison.base.version).toBe('0.1.0');
    expect(comparison.new.version).toBe('0.2.0');
    expect(comparison.validation.images).toBe(4);
    expect(Object.keys(comparison.families).length).toBeGreaterThan(0);
    for (const fam of Object.values(comparison.families)) expect(fam.new.accuracy).toBeTypeOf('number');
    expect(ComparisonSchema.parse(JSON.parse(readFileSync(join(dir, 'comparison.json'), 'utf8')))).toEqual(comparison);
    expect(readFileSync(join(dir, 'MODEL_CARD.md'), 'utf8')).toMatch(/## Fine-tuned from loupe-seg 0\.1\.0: old vs new/);
    expect((manifest.training as { base?: string }).base).toContain('0.1.0');

    // Written beside the base, never made active by training: active.json pins the version that served.
    expect(JSON.parse(readFileSync(join(models, ID, 'active.json'), 'utf8'))).toEqual({ version: '0.1.0' });
    const registry = await createModelRegistry({ dir: models, intraOpThreads: 1 });
    try {
      expect(registry.list().map((m) => m.version)).toEqual(['0.1.0']);
      const lease = await registry.lease([{ id: ID, version: '0.2.0' }]);
      expect(lease.models[0]!.manifest.sha256).toBe(manifest.sha256);
      lease.release();
    } finally {
      await registry.close();
    }

    const list = await loupe(['models', 'list', '--models', models]);
    expect(list.stdout).toMatch(/\* loupe-seg\s+0\.1\.0/);
    expect(list.stdout).toMatch(/\n {2}loupe-seg\s+0\.2\.0\s+[0-9a-f]{12}.*porosity\.acc/);
  }, 150_000);

  it('refuses to overwrite an existing version', async () => {
    const again = await loupe(['train', '--data', train, '--val', val, '--base', `${ID}@0.1.0`, '--version', '0.2.0', '--models', models, '--runs-dir', runs, '--smoke']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/0\.2\.0 already exists/);
  });

  it('--folds 2: two members, gates on their out-of-fold scores, exported as one graph that averages them', async () => {
    // prettier-ignore
    const args = ['train', '--data', train, '--val', val, '--base', `${ID}@0.1.0`, '--version', '0.5.0', '--models', models, '--runs-dir', runs, '--smoke', '--steps', '6', '--folds', '2'];
    // Stopped inside the first member, then continued: the members resume from their own checkpoints.
    const first = await loupe([...args, '--max-minutes', '0.0001']);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(existsSync(join(runs, 'retrain-loupe-seg-0.5.0', 'member-1', 'last.pt'))).toBe(true);
    expect((await loupe(args)).stderr).toMatch(/already holds a checkpoint: add --resume/);
    const t = await loupe([...args, '--resume'], {}, 240_000);
    expect(t.code, t.stdout + t.stderr).toBe(0);
    expect(t.stderr).toMatch(/resumed from .*member-1\/last\.pt at step 1/);
    expect(t.stdout).toMatch(/2 members, each trained without one fold \(fold sizes \d+, \d+\); gates set on out-of-fold scores/);
    expect(t.stdout).toMatch(/gate porosity: [\d.]+ \(out-of-fold recall/);
    const dir = join(models, ID, '0.5.0');
    const raw = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { architecture: unknown };
    const manifest = ModelManifestSchema.parse(raw);
    expect(raw.architecture).toMatchObject({ name: 'LoupeSegEnsemble', members: 2 });
    // Gates on all 8 training photos, each scored by the member that did not train on it; not on the 4 validation ones.
    const gates = manifest.operatingPoints.imageGates as unknown as { photos: number; scoredBy: string; calibratedOn: string[] };
    expect(gates.photos).toBe(8);
    expect(gates.scoredBy).toMatch(/out of fold/);
    expect(gates.calibratedOn.every((d) => /folds\/[12]\/val$/.test(d))).toBe(true);
    const members = (manifest.training as unknown as { ensemble: { members: Array<{ sha256: string; seeds: { torch: number } }> } }).ensemble.members;
    expect(members).toHaveLength(2);
    expect(members[0]!.seeds.torch).not.toBe(members[1]!.seeds.torch);
    expect(readFileSync(join(dir, 'MODEL_CARD.md'), 'utf8')).toMatch(/Ensemble of 2 members[\s\S]*image gates were set on out-of-fold scores/);

    // The exported graph is the mean of the members' graphs, output by output.
    const memberDirs = [1, 2].map((k) => join(runs, 'retrain-loupe-seg-0.5.0', 'members', ID, `0.5.0-fold${k}`));
    const sessions = await Promise.all([dir, ...memberDirs].map((d) => ort.InferenceSession.create(join(d, 'model.onnx'))));
    const pixels = Float32Array.from({ length: 3 * 48 * 64 }, (_, i) => Math.sin(i * 0.37) * 1.5);
    const [ens, a, b] = await Promise.all(sessions.map((sess) => sess.run({ image: new ort.Tensor('float32', pixels, [1, 3, 48, 64]) })));
    for (const name of ['seg', 'stones', 'evidence']) {
      const e = ens![name]!.data as Float32Array;
      const x = a![name]!.data as Float32Array;
      const y = b![name]!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(e[i]! - (x[i]! + y[i]!) / 2));
      expect(worst, name).toBeLessThan(1e-4);
      expect(x.some((v, i) => Math.abs(v - y[i]!) > 1e-3), `members differ on ${name}`).toBe(true);
    }
    await Promise.all(sessions.map((sess) => sess.release()));

    // Members made at different working scales cannot be averaged into one graph: refused, naming both scales.
    const odd = join(runs, 'member-at-0.048');
    cpSync(memberDirs[1]!, odd, { recursive: true });
    const oddJson = JSON.parse(readFileSync(join(odd, 'model.json'), 'utf8'));
    oddJson.training.workingMmPerPx = 0.048;
    writeFileSync(join(odd, 'model.json'), JSON.stringify(oddJson));
    const mixed = spawnSync(PYTHON, [join(ROOT, 'models/training/ensemble.py'), '--member', memberDirs[0]!, '--member', odd, '--val', val, '--out', join(runs, 'mixed')], { encoding: 'utf8' });
    expect(mixed.status).not.toBe(0);
    expect(mixed.stderr).toMatch(/members differ in working scale: \[0\.012, 0\.048\] mm\/px/);

    // A version trained from it starts from the members' average.
    // prettier-ignore
    const next = await loupe(['train', '--data', train, '--val', val, '--base', `${ID}@0.5.0`, '--version', '0.6.0', '--models', models, '--runs-dir', runs, '--smoke', '--steps', '3']);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(next.stderr).toMatch(/the base is an ensemble of 2 members: starting from their average/);
    for (const v of ['0.5.0', '0.6.0']) rmSync(join(models, ID, v), { recursive: true, force: true });
  }, 300_000);

  it('stops at --max-minutes with a checkpoint and finishes the same run with --resume', async () => {
    // prettier-ignore
    const args = ['train', '--data', train, '--val', val, '--base', `${ID}@0.1.0`, '--version', '0.9.0', '--models', models, '--runs-dir', runs, '--smoke', '--steps', '6'];
    const first = await loupe([...args, '--max-minutes', '0.0001']);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(first.stderr).toMatch(/continue with the same command plus --resume/);
    expect(existsSync(join(runs, 'retrain-loupe-seg-0.9.0', 'last.pt'))).toBe(true);
    expect(existsSync(join(models, ID, '0.9.0', 'model.json'))).toBe(false);

    const plain = await loupe(args);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/already holds a checkpoint: add --resume/);
    const changed = await loupe([...args.slice(0, -2), '--steps', '7', '--resume']);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/--resume: this command differs .* steps/);

    const resumed = await loupe([...args, '--resume']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .*last\.pt at step 1/);
    expect(ModelManifestSchema.parse(JSON.parse(readFileSync(join(models, ID, '0.9.0', 'model.json'), 'utf8'))).version).toBe('0.9.0');
    rmSync(join(models, ID, '0.9.0'), { recursive: true, force: true });
  }, 120_000);

  describe.skipIf(skipUnless(redisUp, 'Redis'))('promotion reaches a running worker without a restart', () => {
    let db: TestDatabase;
    let t: TestApp;
    let worker: WorkerChild;
    let base: string;
    let stationKey: string;
    let upload: SampleUpload;
    let n = 0;

    beforeAll(async () => {
      expect(redisUp, 'Redis must answer in CI').toBe(true);
      db = await sqliteTestDatabase();
      t = await testApp(db, { MODELS_DIR: models });
      stationKey = (await t.createKey('station', 'retrain-station')).key;
      base = await t.app.listen({ host: '127.0.0.1', port: 0 });
      worker = await spawnWorker({ ...t.env, WORKER_CONCURRENCY: '1', ORT_INTRA_OP_THREADS: '1' });
      upload = (await samplesForE2e()).uploads[0]!;
    }, 120_000);
    afterAll(async () => {
      await worker?.kill('SIGTERM');
      await t?.close();
      await db?.drop();
    });

    /** One upload through the API; resolves to the model versions its report names. */
    async function inspectOnce(): Promise<string[]> {
      const s = { ...upload, metadata: { ...upload.metadata, pieceId: `RT-${++n}` } };
      const r = await uploadSample(base, s, { apiKey: stationKey });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const body = await waitFor(
        `inspection ${r.id}`,
        async () => {
          const b = await getJson(`${base}/v1/inspections/${r.id}`, t.auth);
          return b.status === 'done' || b.status === 'failed' ? b : null;
        },
        60_000,
        250,
      );
      expect(body.status, body.failureReason).toBe('done');
      return InspectionReportSchema.parse(body.views[0].report).models.map((m) => `${m.id}@${m.version}`);
    }

    // The registry re-reads active.json at most every 5 s (workers/main.ts): past that, the next job sees the change.
    const pastRegistryCheck = () => new Promise((r) => setTimeout(r, 5_500));

    it('promote → the next report names the new version; rollback → the old one; both in the audit trail', async () => {
      expect(await inspectOnce()).toEqual([`${ID}@0.1.0`]);

      const p = await loupe(['models', 'promote', ID, '0.2.0', '--models', models], { DATABASE_URL: db.url });
      expect(p.code, p.stderr).toBe(0);
      expect(p.stdout).toMatch(/promoted loupe-seg: 0\.1\.0 → 0\.2\.0/);
      expect(JSON.parse(readFileSync(join(models, ID, 'active.json'), 'utf8'))).toEqual({ version: '0.2.0' });
      await pastRegistryCheck();
      expect(await inspectOnce()).toEqual([`${ID}@0.2.0`]);
      const catalog = await getJson(`${base}/v1/models`, t.auth);
      expect(catalog.available.filter((m: { active: boolean }) => m.active).map((m: { version: string }) => m.version)).toEqual(['0.2.0']);

      const r = await loupe(['models', 'rollback', ID, '--models', models], { DATABASE_URL: db.url });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/rolled back loupe-seg: 0\.2\.0 → 0\.1\.0/);
      await pastRegistryCheck();
      expect(await inspectOnce()).toEqual([`${ID}@0.1.0`]);
      expect(worker.proc.exitCode).toBeNull(); // the same worker process throughout

      const events = await auditDal(db.handle.db).ofSubject('model', ID);
      expect(events.map((e) => [e.action, e.data.from, e.data.to])).toEqual([
        ['model.promoted', '0.1.0', '0.2.0'],
        ['model.rolled_back', '0.2.0', '0.1.0'],
      ]);
      expect(events[0]!.actor).toMatch(/^cli:/);
      expect((await auditDal(db.handle.db).verify()).ok).toBe(true);
    }, 150_000);

    it('refuses to promote a version whose files do not match its model.json', async () => {
      const broken = join(models, ID, '0.3.0');
      cpSync(join(models, ID, '0.2.0'), broken, { recursive: true });
      const mj = JSON.parse(readFileSync(join(broken, 'model.json'), 'utf8'));
      writeFileSync(join(broken, 'model.json'), JSON.stringify({ ...mj, version: '0.3.0', sha256: '0'.repeat(64) }));
      const p = await loupe(['models', 'promote', ID, '0.3.0', '--models', models], { DATABASE_URL: db.url });
      expect(p.code).toBe(1);
      expect(p.stderr).toMatch(/refusing to activate loupe-seg@0\.3\.0: .*sha256/);
      expect(JSON.parse(readFileSync(join(models, ID, 'active.json'), 'utf8'))).toEqual({ version: '0.1.0' });
      rmSync(broken, { recursive: true, force: true });
      expect(existsSync(broken)).toBe(false);
    });
  });
});
