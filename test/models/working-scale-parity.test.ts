import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePhoto, probePhoto } from '../../pipeline/decode.js';
import { loadProfiles } from '../../pipeline/index.js';
import { workingScale } from '../../pipeline/preprocess.js';
import { PYTHON, torchSuite } from '../core/support/env.js';

const TRAINING = join(import.meta.dirname, '../../models/training');
const LOUPE = join(import.meta.dirname, '../../cli/bin/loupe.js');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

describe('a training photo shrunk to the working scale', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loupe-working-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // A network trained on one resampling and run on another sees fine texture differently (a box filter aliases it);
  // photos from a 12 MP camera are shrunk 2-5x, so what training sees must be what the pipeline sees.
  it.skipIf(skipTorch)('is, to a fraction of a grey level, the image the pipeline runs the networks on', async () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    // Seed 104's third photo at 2048 px is shrunk 1.45x (a box filter puts it 0.58 levels off on average).
    execFileSync(process.execPath, [LOUPE, 'synth', '--out', dir, '--count', '3', '--seed', '104', '--size', '2048'], { stdio: 'pipe', timeout: 120_000 });
    const entry = JSON.parse(readFileSync(join(dir, 'manifest.jsonl'), 'utf8').trim().split('\n')[2]!) as { file: string; mmPerPx: number };
    const raw = join(dir, 'training.rgb');
    const shape = JSON.parse(
      execFileSync(
        PYTHON,
        [
          '-c',
          `import sys, json; sys.path.insert(0, ${JSON.stringify(TRAINING)})
from data import read_manifest, load_sample
e = read_manifest(${JSON.stringify(dir)})[2]
s = load_sample(${JSON.stringify(dir)}, e)
s.image.tofile(${JSON.stringify(raw)})
print(json.dumps(list(s.image.shape)))`,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      ),
    ) as [number, number, number];
    const profile = loadProfiles().get('ring');
    const bytes = readFileSync(join(dir, entry.file));
    const scale = workingScale(await probePhoto(bytes, profile.decode), entry.mmPerPx, 0.012);
    expect(scale.scaleToPhoto).toBeGreaterThan(1.4);
    const pipeline = await decodePhoto(bytes, profile.decode, scale);
    expect(shape).toEqual([pipeline.height, pipeline.width, 3]);
    const training = readFileSync(raw);
    let sum = 0;
    for (let i = 0; i < training.length; i++) sum += Math.abs(training[i]! - pipeline.data[i]!);
    expect(sum / training.length).toBeLessThan(0.35);
  }, 180_000);
});
