import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../pipeline/inspect.js';
import { loadModel, releaseModel, type LoadedModel } from '../../pipeline/registry.js';
import { editJson, REPO_ROOT, ringProfile, SAMPLES_DIR } from './helpers.js';

// A photo the pipeline shrinks a lot to reach the working scale (a 12 MP camera photo) is held to the model's gates for
// such photos; one used near its native pixels keeps the main gates.
describe('gates chosen by how much the photo was shrunk', () => {
  let model: LoadedModel;
  let tmp: string;
  const main = { porosity: 0, scratch: 0, haze: 0 };
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'loupe-downsampled-'));
    const dir = join(tmp, 'loupe-seg/1.4.0');
    await cp(join(REPO_ROOT, 'models/loupe-seg/1.4.0'), dir, { recursive: true });
    await editJson(join(dir, 'model.json'), (j) => {
      main.porosity = j.operatingPoints.porosity.imageThreshold;
      main.scratch = j.operatingPoints.polish.scratch.imageThreshold;
      main.haze = j.operatingPoints.polish.haze.imageThreshold;
      j.operatingPoints.downsampledGates = { minScaleToPhoto: 1.5, porosity: 0.991, polish: { scratch: 0.973 }, method: 'test', calibratedOn: ['test'] };
    });
    model = await loadModel(dir, 1);
  });
  afterAll(async () => {
    await releaseModel(model);
    await rm(tmp, { recursive: true, force: true });
  });

  it('holds a shrunk photo to the downsampled gates and a native one to the main gates', async () => {
    const entry = JSON.parse((await readFile(join(SAMPLES_DIR, 'manifest.jsonl'), 'utf8')).split('\n')[0]!);
    const bytes = await readFile(join(SAMPLES_DIR, entry.file));
    const native = await inspect(bytes, { mmPerPx: entry.mmPerPx }, ringProfile(), { models: [model] });
    expect(native.working.scaleToPhoto).toBeLessThan(1.5);
    expect(native.families.porosity.gate.scoreThreshold).toBe(main.porosity);
    expect(native.families.polish.kindGates!.scratch!.scoreThreshold).toBe(main.scratch);

    // The same photo said to be 2.4x finer: the pipeline shrinks it 2.4x to the working scale.
    const shrunk = await inspect(bytes, { mmPerPx: 0.005 }, ringProfile(), { models: [model] });
    expect(shrunk.working.scaleToPhoto).toBeGreaterThan(2);
    expect(shrunk.families.porosity.gate.scoreThreshold).toBe(0.991);
    expect(shrunk.families.polish.kindGates!.scratch!.scoreThreshold).toBe(0.973);
    // A kind the downsampled gates leave out keeps its main gate.
    expect(shrunk.families.polish.kindGates!.haze!.scoreThreshold).toBe(main.haze);
  }, 60_000);
});
