import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProfiles } from '../../pipeline/profiles.js';
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

export const ringProfile = () => loadProfiles({ env: {} }).get('ring');

export const spacingTolerance = (over: Partial<SpacingTolerance> = {}): SpacingTolerance => ({
  ...ringProfile().stone_spacing,
  ...over,
});
