import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';

const TRAINING = join(import.meta.dirname, '../../models/training');
const SHIPPED = join(import.meta.dirname, '../../models/loupe-seg/1.16.0/model.json');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

// A version derived from the default by a new verifier or stone refiner changes the scores that the polish calibration
// and the downsampled photos' gates were fitted to: it must not carry them over unchecked.
describe('a derived version (export.write_derived_version)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loupe-derived-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(skipTorch)("drops the base's score-fitted operating points and keeps its gates", () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const base = JSON.parse(readFileSync(SHIPPED, 'utf8'));
    expect(base.operatingPoints.polishCalibration).toBeDefined();
    expect(base.operatingPoints.downsampledGates).toBeDefined();
    const out = join(dir, '9.1.0');
    execFileSync(PYTHON, ['-c', `import sys, os, json; sys.path.insert(0, ${JSON.stringify(TRAINING)})
import export
os.makedirs(${JSON.stringify(out)})
export.write_derived_version(${JSON.stringify(out)}, json.load(open(${JSON.stringify(SHIPPED)})), "verifier", {"file": "verifier.onnx"})`], { timeout: 60_000 });
    const derived = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(derived.version).toBe('9.1.0');
    expect(derived.verifier).toEqual({ file: 'verifier.onnx' });
    expect(derived.operatingPoints.polishCalibration).toBeUndefined();
    expect(derived.operatingPoints.downsampledGates).toBeUndefined();
    expect(derived.operatingPoints.porosity).toEqual(base.operatingPoints.porosity);
    expect(derived.operatingPoints.imageGates).toEqual(base.operatingPoints.imageGates);
  });

  // A verifier trained behind a version that has a stone refiner must not ship a model.json naming a file it lacks.
  it.skipIf(skipTorch)("carries every network file of its base, not its base's model.json or card", () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const base = join(dir, 'base');
    mkdirSync(base);
    for (const f of ['model.onnx', 'weights.pt', 'verifier.onnx', 'verifier.pt', 'stone-refiner.onnx', 'stone-refiner.pt', 'model.json', 'MODEL_CARD.md']) {
      writeFileSync(join(base, f), f);
    }
    mkdirSync(join(base, 'eval'));
    const out = join(dir, '9.2.0');
    execFileSync(PYTHON, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(TRAINING)})
import export
export.copy_base_files(${JSON.stringify(base)}, ${JSON.stringify(out)})`], { timeout: 60_000 });
    expect(readdirSync(out).sort()).toEqual(['model.onnx', 'stone-refiner.onnx', 'stone-refiner.pt', 'verifier.onnx', 'verifier.pt', 'weights.pt']);
    expect(readFileSync(join(out, 'stone-refiner.onnx'), 'utf8')).toBe('stone-refiner.onnx');
  });
});
