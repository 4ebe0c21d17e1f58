import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';
import { loadModel, releaseModel } from '../../pipeline/registry.js';

// The verifier's trainer on a generated set behind the shipped seg network: a run stopped by --max-minutes resumes
// from its checkpoint to the same network an uninterrupted run makes, and the version it writes loads as a worker
// loads it.
const ROOT = join(import.meta.dirname, '../..');
const LOUPE = join(ROOT, 'cli/bin/loupe.js');
const TRAIN = join(ROOT, 'models/training/train_verifier.py');
const SEG = join(ROOT, 'models/loupe-seg/1.1.0');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

describe('train_verifier.py', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.skipIf(skipTorch)('resumes a stopped run to the same network, writes a version the registry loads, and fine-tunes it on hard negatives', async () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'loupe-vtrain-'));
    dirs.push(dir);
    const train = join(dir, 'train');
    const val = join(dir, 'val');
    execFileSync(process.execPath, [LOUPE, 'synth', '--out', train, '--count', '6', '--seed', '5', '--size', '384'], { stdio: 'pipe', timeout: 90_000 });
    execFileSync(process.execPath, [LOUPE, 'synth', '--out', val, '--count', '3', '--seed', '6', '--size', '384'], { stdio: 'pipe', timeout: 90_000 });
    const run = (out: string, runDir: string, extra: string[]) =>
      spawnSync(PYTHON, [TRAIN, '--seg', SEG, '--data', train, '--val', val, '--out', out, '--run-dir', runDir, '--cache-dir', join(dir, 'cache'),
        '--steps', '12', '--batch', '8', '--checkpoint-every', '5', ...extra], { encoding: 'utf8', timeout: 300_000 });

    const whole = run(join(dir, 'a/loupe-seg/9.0.0'), join(dir, 'run-a'), []);
    expect(whole.status, whole.stderr).toBe(0);
    const stopped = run(join(dir, 'b/loupe-seg/9.0.0'), join(dir, 'run-b'), ['--max-minutes', '0']);
    expect(stopped.status, stopped.stderr).toBe(2);
    expect(stopped.stdout).toContain('stopped at step 5');
    const again = run(join(dir, 'b/loupe-seg/9.0.0'), join(dir, 'run-b'), []);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain('--resume');
    const resumed = run(join(dir, 'b/loupe-seg/9.0.0'), join(dir, 'run-b'), ['--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('resumed from');

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

    const model = await loadModel(join(dir, 'a/loupe-seg/9.0.0'), 1);
    try {
      expect(model.verifier).toBeDefined();
      expect(model.manifest.verifier?.kinds).toEqual(['scratch', 'haze', 'tool_mark', 'orange_peel']);
    } finally {
      await releaseModel(model);
    }
  }, 600_000);
});
