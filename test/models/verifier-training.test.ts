import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';
import { loadModel, releaseModel } from '../../pipeline/registry.js';
import { tinySets, trainer, wholeAndResumed } from './support/trainer-runs.js';

// The verifier's trainer on a generated set behind the shipped seg network: a run stopped by --max-minutes resumes
// from its checkpoint to the same network an uninterrupted run makes, and the version it writes loads as a worker
// loads it.
const ROOT = join(import.meta.dirname, '../..');
const TRAIN = join(ROOT, 'models/training/train_verifier.py');
const ENSEMBLE = join(ROOT, 'models/training/verifier_ensemble.py');
const SEG = join(ROOT, 'models/loupe-seg/1.1.0');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

describe('train_verifier.py', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.skipIf(skipTorch)('resumes a stopped run to the same network, writes a version the registry loads, and fine-tunes it on hard negatives', async () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'loupe-vtrain-'));
    dirs.push(dir);
    const { train, val } = tinySets(dir, 3);
    const run = trainer(TRAIN, ['--seg', SEG, '--data', train, '--val', val, '--cache-dir', join(dir, 'cache'), '--steps', '12', '--batch', '8', '--checkpoint-every', '5']);

    wholeAndResumed(run, dir);

    const manifest = (v: string) => JSON.parse(readFileSync(join(dir, v, 'loupe-seg/9.0.0/model.json'), 'utf8'));
    const a = manifest('a');
    const b = manifest('b');
    expect(b.verifier.sha256).toBe(a.verifier.sha256);
    expect(b.verifier.training.resumedAtStep).toBe(5);
    expect(a.verifier.training.seed).toBe(17);
    expect(a.verifier.training.data[0].count).toBe(6);

    // A second round from a trained verifier, half of each batch's negatives drawn from the ones it scores highest.
    const init = join(dir, 'a/loupe-seg/9.0.0/verifier.pt');
    const alone = run(join(dir, 'c/loupe-seg/9.1.0'), join(dir, 'run-c'), ['--hard-negatives', '0.2']);
    expect(alone.status).not.toBe(0);
    expect(alone.stderr).toContain('--hard-negatives needs --init');
    const otherKinds = run(join(dir, 'c/loupe-seg/9.1.0'), join(dir, 'run-c'), ['--init', init, '--kinds', 'porosity']);
    expect(otherKinds.status).not.toBe(0);
    expect(otherKinds.stderr).toContain('4 kinds, the run verifies 1');
    const mined = run(join(dir, 'c/loupe-seg/9.1.0'), join(dir, 'run-c'), ['--init', init, '--hard-negatives', '0.2']);
    expect(mined.status, mined.stderr).toBe(0);
    expect(mined.stdout).toMatch(/hard negatives: \d+ of \d+/);
    const c = JSON.parse(readFileSync(join(dir, 'c/loupe-seg/9.1.0/model.json'), 'utf8'));
    expect(c.verifier.training).toMatchObject({ init, hardNegatives: 0.2 });
    expect(c.verifier.sha256).not.toBe(a.verifier.sha256);

    // Mined again from the verifier being trained, at checkpoints only; an off-grid interval is refused up front.
    const offGrid = run(join(dir, 'd/loupe-seg/9.1.0'), join(dir, 'run-d'), ['--init', init, '--hard-negatives', '0.2', '--refresh-hard-negatives', '7']);
    expect(offGrid.status).not.toBe(0);
    expect(offGrid.stderr).toContain('a positive multiple of --checkpoint-every');
    const refreshed = run(join(dir, 'd/loupe-seg/9.1.0'), join(dir, 'run-d'), ['--init', init, '--hard-negatives', '0.2', '--refresh-hard-negatives', '5']);
    expect(refreshed.status, refreshed.stderr).toBe(0);
    expect(refreshed.stdout.match(/hard negatives: \d+ of \d+/g)).toHaveLength(3);
    const d = JSON.parse(readFileSync(join(dir, 'd/loupe-seg/9.1.0/model.json'), 'utf8'));
    expect(d.verifier.training).toMatchObject({ hardNegatives: 0.2, refreshHardNegatives: 5 });
    expect(d.verifier.sha256).not.toBe(c.verifier.sha256);

    // Stopped at its first refresh and resumed: the resumed run mines once there, from the weights it resumes with
    // (not first from --init as well, minutes wasted on a full set), and ends where the whole run did.
    const refreshArgs = ['--init', init, '--hard-negatives', '0.2', '--refresh-hard-negatives', '5'];
    const stoppedAtRefresh = run(join(dir, 'e/loupe-seg/9.1.0'), join(dir, 'run-e'), [...refreshArgs, '--max-minutes', '0']);
    expect(stoppedAtRefresh.status, stoppedAtRefresh.stderr).toBe(2);
    expect(stoppedAtRefresh.stdout.match(/hard negatives: \d+ of \d+/g)).toHaveLength(1);
    const resumedAtRefresh = run(join(dir, 'e/loupe-seg/9.1.0'), join(dir, 'run-e'), [...refreshArgs, '--resume']);
    expect(resumedAtRefresh.status, resumedAtRefresh.stderr).toBe(0);
    expect(resumedAtRefresh.stdout.match(/hard negatives: \d+ of \d+/g)).toHaveLength(2);
    const e = JSON.parse(readFileSync(join(dir, 'e/loupe-seg/9.1.0/model.json'), 'utf8'));
    expect(e.verifier.sha256).toBe(d.verifier.sha256);

    const model = await loadModel(join(dir, 'a/loupe-seg/9.0.0'), 1);
    try {
      expect(model.verifier).toBeDefined();
      expect(model.manifest.verifier?.kinds).toEqual(['scratch', 'haze', 'tool_mark', 'orange_peel']);
    } finally {
      await releaseModel(model);
    }

    // Both verifiers averaged in one graph: a version whose verifier scores every patch as the mean of theirs.
    const ensemble = (out: string, members: string[]) =>
      spawnSync(PYTHON, [ENSEMBLE, '--base', join(dir, 'a/loupe-seg/9.0.0'), ...members.flatMap((m) => ['--member', m]), '--out', out], { encoding: 'utf8' });
    const shipped = ensemble(join(dir, 'x/loupe-seg/9.2.0'), [join(dir, 'a/loupe-seg/9.0.0'), join(ROOT, 'models/loupe-seg/1.4.0')]);
    expect(shipped.status).not.toBe(0);
    expect(shipped.stderr).toMatch(/1\.4\.0: verifier kinds differ from the base's/);
    cpSync(join(dir, 'c/loupe-seg/9.1.0'), join(dir, 'other-seg'), { recursive: true });
    const otherJson = JSON.parse(readFileSync(join(dir, 'other-seg/model.json'), 'utf8'));
    otherJson.verifier.training.segSha256 = '0'.repeat(64);
    writeFileSync(join(dir, 'other-seg/model.json'), JSON.stringify(otherJson));
    const otherSeg = ensemble(join(dir, 'x/loupe-seg/9.2.0'), [join(dir, 'a/loupe-seg/9.0.0'), join(dir, 'other-seg')]);
    expect(otherSeg.status).not.toBe(0);
    expect(otherSeg.stderr).toMatch(/trained behind seg network 0{64}/);

    const made = ensemble(join(dir, 'e/loupe-seg/9.2.0'), [join(dir, 'a/loupe-seg/9.0.0'), join(dir, 'c/loupe-seg/9.1.0')]);
    expect(made.status, made.stderr).toBe(0);
    const versions = await Promise.all(['a/loupe-seg/9.0.0', 'c/loupe-seg/9.1.0', 'e/loupe-seg/9.2.0'].map((v) => loadModel(join(dir, v), 1)));
    try {
      const [va, vc, ve] = versions;
      expect(ve!.manifest.verifier).toMatchObject({ kinds: va!.manifest.verifier!.kinds, architecture: { name: 'PolishVerifierEnsemble', members: 2 } });
      expect(ve!.manifest.sha256).toBe(va!.manifest.sha256);
      const patches = Float32Array.from({ length: 3 * 6 * 64 * 64 }, (_, i) => Math.sin(i * 0.61) * 2);
      const probs = async (m: (typeof versions)[number]) =>
        (await m.verifier!.run({ patches: new ort.Tensor('float32', patches, [3, 6, 64, 64]) })).kinds!.data as Float32Array;
      const [pa, pc, pe] = [await probs(va!), await probs(vc!), await probs(ve!)];
      for (let i = 0; i < pe.length; i++) expect(pe[i]!).toBeCloseTo((pa[i]! + pc[i]!) / 2, 5);
      expect(pa.some((v, i) => Math.abs(v - pc[i]!) > 1e-3)).toBe(true);
    } finally {
      await Promise.all(versions.map((v) => releaseModel(v)));
    }
  }, 600_000);
});
