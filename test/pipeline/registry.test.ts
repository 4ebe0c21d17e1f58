import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import { isPipelineError } from '../../pipeline/errors.js';
import { createModelRegistry, loadModel, releaseModel, type ModelRegistry } from '../../pipeline/registry.js';
import { copyFixtureModels, editJson, FIXTURE_ID, FIXTURE_VERSION } from './helpers.js';

const registries: ModelRegistry[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function fixtureDir(): Promise<{ root: string; version: string }> {
  const root = await copyFixtureModels();
  dirs.push(root);
  return { root, version: join(root, FIXTURE_ID, FIXTURE_VERSION) };
}

/** The newest shipped loupe-seg version that carries `part` (a polish verifier, a stone refiner): its file and its model.json section. */
async function shippedPart(part: 'verifier' | 'stoneRefiner'): Promise<{ file: string; spec: Record<string, unknown> }> {
  const root = join(import.meta.dirname, '../../models/loupe-seg');
  const versions = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  for (const v of versions.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))) {
    const json = JSON.parse(await readFile(join(root, v, 'model.json'), 'utf8')) as Record<string, (Record<string, unknown> & { file: string }) | undefined>;
    const spec = json[part];
    if (spec) return { file: join(root, v, spec.file), spec };
  }
  throw new Error(`no version under ${root} ships a ${part}`);
}

/** The fixture's version made to carry the newest shipped `part`, its network copied in as `file`. */
async function carryShipped(version: string, part: 'verifier' | 'stoneRefiner', file: string): Promise<Record<string, unknown>> {
  const shipped = await shippedPart(part);
  await cp(shipped.file, join(version, file));
  await editJson(join(version, 'model.json'), (j) => {
    j[part] = shipped.spec;
  });
  return shipped.spec;
}

/** A copy of the fixture's version as `version` (its model.json saying so), made the active one. */
async function promoteCopy(root: string, version: string): Promise<void> {
  const dir = join(root, FIXTURE_ID, version);
  await cp(join(root, FIXTURE_ID, FIXTURE_VERSION), dir, { recursive: true });
  await editJson(join(dir, 'model.json'), (j) => {
    j.version = version;
  });
  await writeFile(join(root, FIXTURE_ID, 'active.json'), JSON.stringify({ version }));
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the model to be refused');
}

async function runsOnce(session: import('onnxruntime-node').InferenceSession): Promise<void> {
  const out = await session.run({ image: new Tensor('float32', new Float32Array(3 * 16 * 16), [1, 3, 16, 16]) });
  expect(out.seg!.dims).toEqual([1, 5, 16, 16]);
}

describe('model registry', () => {
  it('loads the fixture with its manifest and a working session', async () => {
    const { root } = await fixtureDir();
    const registry = await createModelRegistry({ dir: root, intraOpThreads: 1 });
    registries.push(registry);
    expect(registry.list().map((m) => [m.id, m.version])).toEqual([[FIXTURE_ID, FIXTURE_VERSION]]);
    const lease = await registry.lease();
    await runsOnce(lease.models[0]!.session);
    lease.release();
  });

  it('refuses a model.json whose sha256 does not match model.onnx, naming the file and the field', async () => {
    const { version } = await fixtureDir();
    await editJson(join(version, 'model.json'), (j) => {
      j.sha256 = '0'.repeat(64);
    });
    const error = await refusal(loadModel(version, 1));
    expect(isPipelineError(error, 'model_invalid')).toBe(true);
    expect(error.message).toContain(join(version, 'model.json'));
    expect(error.message).toContain('sha256');
    expect(error.message).toContain('hashes to');
  });

  it('loads a polish verifier named in model.json and refuses one whose bytes disagree with it', async () => {
    const { version } = await fixtureDir();
    const spec = await carryShipped(version, 'verifier', 'verifier.onnx');
    const model = await loadModel(version, 1);
    try {
      const out = await model.verifier!.run({ patches: new Tensor('float32', new Float32Array(2 * 6 * 64 * 64), [2, 6, 64, 64]) });
      expect(out.kinds!.dims).toEqual([2, (spec.kinds as string[]).length]);
    } finally {
      await releaseModel(model);
    }
    await editJson(join(version, 'model.json'), (j) => {
      (j.verifier as { sha256: string }).sha256 = 'f'.repeat(64);
    });
    const error = await refusal(loadModel(version, 1));
    expect(isPipelineError(error, 'model_invalid')).toBe(true);
    expect(error.message).toContain('verifier.sha256');
  });

  it('loads a stone refiner named in model.json and refuses one whose input name disagrees with its network', async () => {
    const { version } = await fixtureDir();
    const spec = await carryShipped(version, 'stoneRefiner', 'stone-refiner.onnx');
    const model = await loadModel(version, 1);
    try {
      const px = spec.cropPx as number;
      const out = await model.stoneRefiner!.run({ crops: new Tensor('float32', new Float32Array(2 * 3 * px * px), [2, 3, px, px]) });
      expect(out.offsets!.dims).toEqual([2, 3]);
    } finally {
      await releaseModel(model);
    }
    await editJson(join(version, 'model.json'), (j) => {
      (j.stoneRefiner as { input: string }).input = 'pixels';
    });
    const error = await refusal(loadModel(version, 1));
    expect(isPipelineError(error, 'model_invalid')).toBe(true);
    expect(error.message).toMatch(/stoneRefiner\.input: "pixels" -> "offsets" but .*stone-refiner\.onnx takes \[crops\]/);
  });

  it('refuses a model.json whose input name does not match the network', async () => {
    const { version } = await fixtureDir();
    await editJson(join(version, 'model.json'), (j) => {
      j.input.name = 'pixels';
    });
    const error = await refusal(loadModel(version, 1));
    expect(isPipelineError(error, 'model_invalid')).toBe(true);
    expect(error.message).toMatch(/model\.json: input\.name: "pixels" but .*model\.onnx takes \[image\]/);
  });

  it('refuses a model.json that does not validate, naming the field', async () => {
    const { version } = await fixtureDir();
    await editJson(join(version, 'model.json'), (j) => {
      delete j.input.tile;
    });
    const error = await refusal(loadModel(version, 1));
    expect(error.message).toContain('input.tile');
  });

  it('refuses to start on a broken model', async () => {
    const { root, version } = await fixtureDir();
    await writeFile(join(version, 'model.onnx'), Buffer.from('not a model'));
    const error = await refusal(createModelRegistry(root, { intraOpThreads: 1 }));
    expect(isPipelineError(error, 'model_invalid')).toBe(true);
    expect(error.message).toContain('sizeBytes');
  });

  it('picks up a newly promoted version without a restart; in-flight leases keep the old session', async () => {
    const { root } = await fixtureDir();
    const registry = await createModelRegistry(root, { intraOpThreads: 1 });
    registries.push(registry);
    const inFlight = await registry.lease();
    expect(inFlight.models[0]!.version).toBe('1.0.0');

    await promoteCopy(root, '1.1.0');

    const next = await registry.lease();
    expect(next.models[0]!.version).toBe('1.1.0');
    expect(registry.list()[0]!.version).toBe('1.1.0');
    // The old session is still alive for the inspection that holds it.
    await runsOnce(inFlight.models[0]!.session);
    inFlight.release();
    await runsOnce(next.models[0]!.session);
    next.release();

    // Demoting back works the same way, and a pin loads a specific version.
    await writeFile(join(root, FIXTURE_ID, 'active.json'), JSON.stringify({ version: '1.0.0' }));
    const back = await registry.lease();
    expect(back.models[0]!.version).toBe('1.0.0');
    back.release();
    const pinned = await registry.lease([{ id: FIXTURE_ID, version: '1.1.0' }]);
    expect(pinned.models[0]!.version).toBe('1.1.0');
    pinned.release();
  });

  it('warms each model up before it serves, at start and when a promoted version is loaded', async () => {
    const { root } = await fixtureDir();
    const warmed: string[] = [];
    const registry = await createModelRegistry(root, {
      intraOpThreads: 1,
      warmUpRuns: 2,
      onWarmUp: (m, ms) => {
        expect(ms).toBeGreaterThan(0);
        warmed.push(`${m.id}@${m.version}`);
      },
    });
    registries.push(registry);
    expect(warmed).toEqual([`${FIXTURE_ID}@1.0.0`]);
    await promoteCopy(root, '1.1.0');
    const lease = await registry.lease();
    // Warmed before the lease that first uses it returns, and it still answers afterwards.
    expect(warmed).toEqual([`${FIXTURE_ID}@1.0.0`, `${FIXTURE_ID}@1.1.0`]);
    await runsOnce(lease.models[0]!.session);
    lease.release();
  });

  it('does not warm up unless asked (a CLI run of one photo pays no start-up cost)', async () => {
    const { root } = await fixtureDir();
    let calls = 0;
    const registry = await createModelRegistry(root, { intraOpThreads: 1, onWarmUp: () => calls++ });
    registries.push(registry);
    expect(calls).toBe(0);
  });

  it('keeps serving the current version when a promoted one is broken', async () => {
    const { root } = await fixtureDir();
    const errors: unknown[] = [];
    const registry = await createModelRegistry(root, { intraOpThreads: 1, onReloadError: (e) => errors.push(e) });
    registries.push(registry);
    const v2 = join(root, FIXTURE_ID, '2.0.0');
    await cp(join(root, FIXTURE_ID, FIXTURE_VERSION), v2, { recursive: true });
    // version not edited: model.json says 1.0.0 inside the 2.0.0 folder.
    await writeFile(join(root, FIXTURE_ID, 'active.json'), JSON.stringify({ version: '2.0.0' }));
    const lease = await registry.lease();
    expect(lease.models[0]!.version).toBe('1.0.0');
    lease.release();
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/version: "1\.0\.0" but the folder is "2\.0\.0"/);
  });

  it('takes the highest version when there is no active.json', async () => {
    const { root } = await fixtureDir();
    const v10 = join(root, FIXTURE_ID, '1.10.0');
    await cp(join(root, FIXTURE_ID, FIXTURE_VERSION), v10, { recursive: true });
    await editJson(join(v10, 'model.json'), (j) => {
      j.version = '1.10.0';
    });
    const registry = await createModelRegistry(root, { intraOpThreads: 1 });
    registries.push(registry);
    expect(registry.list()[0]!.version).toBe('1.10.0');
  });
});
