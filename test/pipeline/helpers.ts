import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { loadProfiles } from '../../pipeline/profiles.js';
import { loadModel, releaseModel, type LoadedModel } from '../../pipeline/registry.js';
import type { SpacingTolerance } from '../../pipeline/profile.schema.js';

export const FIXTURE_MODELS = fileURLToPath(new URL('../fixtures/models', import.meta.url));
export const FIXTURE_ID = 'loupe-fixture';
export const FIXTURE_VERSION = '1.0.0';

/** A private copy of the fixture models folder, so a test can edit, break or promote versions. */
export async function copyFixtureModels(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loupe-models-'));
  await cp(FIXTURE_MODELS, dir, { recursive: true });
  return dir;
}

export async function editJson(path: string, edit: (json: Record<string, any>) => void): Promise<void> {
  const json = JSON.parse(await readFile(path, 'utf8'));
  edit(json);
  await writeFile(path, JSON.stringify(json, null, 2));
}

/** The repo's root and its committed sample photos (datasets/samples). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SAMPLES_DIR = join(REPO_ROOT, 'datasets/samples');

/** The shipped loupe-seg 1.4.0 on one thread, loaded for the enclosing describe block; call the result inside a test. */
export function useShippedModel(): () => LoadedModel {
  let model: LoadedModel | undefined;
  beforeAll(async () => {
    model = await loadModel(join(REPO_ROOT, 'models/loupe-seg/1.4.0'), 1);
  });
  afterAll(async () => {
    if (model) await releaseModel(model);
  });
  return () => model!;
}

export const ringProfile = () => loadProfiles({ env: {} }).get('ring');

export const spacingTolerance = (over: Partial<SpacingTolerance> = {}): SpacingTolerance => ({
  ...ringProfile().stone_spacing,
  ...over,
});
