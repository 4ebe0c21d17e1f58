import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { torchSuite } from '../core/support/env.js';
import { loadModel, releaseModel } from '../../pipeline/registry.js';
import { refineStones } from '../../pipeline/stone-refine.js';
import { tinySets, trainer, wholeAndResumed } from './support/trainer-runs.js';

// The stone refiner's trainer on a generated set: a run stopped by --max-minutes resumes from its checkpoint to the
// same network an uninterrupted run makes, and the version it writes loads and refines as a worker would.
const ROOT = join(import.meta.dirname, '../..');
const TRAIN = join(ROOT, 'models/training/train_stone_refiner.py');
const SEG = join(ROOT, 'models/loupe-seg/1.1.0');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

describe('train_stone_refiner.py', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.skipIf(skipTorch)('resumes a stopped run to the same network and writes a version the registry loads with its refiner', async () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'loupe-rtrain-'));
    dirs.push(dir);
    const { train, val } = tinySets(dir, 4);
    const run = trainer(TRAIN, ['--seg', SEG, '--data', train, '--val', val, '--steps', '12', '--batch', '16', '--checkpoint-every', '5']);

    wholeAndResumed(run, dir);

    const manifest = (v: string) => JSON.parse(readFileSync(join(dir, v, 'loupe-seg/9.0.0/model.json'), 'utf8'));
    const a = manifest('a');
    const b = manifest('b');
    expect(b.stoneRefiner.sha256).toBe(a.stoneRefiner.sha256);
    expect(b.stoneRefiner.training.resumedAtStep).toBe(5);
    expect(a.stoneRefiner.training.data[0].stones).toBeGreaterThan(0);
    // The seg version's files and gates travel with it.
    expect(a.sha256).toBe(JSON.parse(readFileSync(join(SEG, 'model.json'), 'utf8')).sha256);

    const model = await loadModel(join(dir, 'a/loupe-seg/9.0.0'), 1);
    try {
      const image = { data: Buffer.alloc(64 * 64 * 3, 128), width: 64, height: 64 };
      const out = await refineStones(model.stoneRefiner!, model.manifest.stoneRefiner!, image, [{ x: 32, y: 32, r: 8, confidence: 1 }]);
      expect(out).toHaveLength(1);
      expect(Number.isFinite(out[0]!.x) && Number.isFinite(out[0]!.r)).toBe(true);
    } finally {
      await releaseModel(model);
    }
  }, 600_000);
});
