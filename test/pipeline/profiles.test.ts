import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPipelineError } from '../../pipeline/errors.js';
import { canonicalJson, loadProfiles, profileVersion } from '../../pipeline/profiles.js';

async function overrideFile(content: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loupe-profiles-'));
  const path = join(dir, 'profiles.json');
  await writeFile(path, JSON.stringify(content));
  return path;
}

describe('product profiles', () => {
  it('ships ring, band and pendant defaults, each versioned by a 12-hex content hash', () => {
    const set = loadProfiles({ env: {} });
    expect(set.names).toEqual(expect.arrayContaining(['ring', 'band', 'pendant']));
    const versions = set.names.map((n) => set.get(n).version);
    for (const v of versions) expect(v).toMatch(/^[0-9a-f]{12}$/);
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('changes version when content changes, and only then', async () => {
    const base = loadProfiles({ env: {} }).get('ring');
    const same = loadProfiles({ overridePath: await overrideFile({ profiles: { ring: { porosity: { failDiameterMm: base.porosity.failDiameterMm } } } }), env: {} }).get('ring');
    expect(same.version).toBe(base.version);
    const changed = loadProfiles({ overridePath: await overrideFile({ profiles: { ring: { porosity: { failDiameterMm: 0.2 } } } }), env: {} }).get('ring');
    expect(changed.version).not.toBe(base.version);
    expect(changed.porosity.failDiameterMm).toBe(0.2);
    expect(changed.porosity.reviewDiameterMm).toBe(base.porosity.reviewDiameterMm);
  });

  it('hashes canonically: key order does not matter', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).toBe(canonicalJson({ a: { c: null, d: [1, 2] }, b: 1 }));
    const { name: _n, version: _v, ...spec } = loadProfiles({ env: {} }).get('band');
    expect(profileVersion(reverseKeys(spec) as typeof spec)).toBe(profileVersion(spec));
  });

  it('reads the override file from LOUPE_PROFILES and adds new profiles', async () => {
    const base = loadProfiles({ env: {} }).get('ring');
    const path = await overrideFile({ profiles: { signet: { ...stripName(base), description: 'signet rings' } } });
    const set = loadProfiles({ env: { LOUPE_PROFILES: path } });
    expect(set.get('signet').description).toBe('signet rings');
    expect(set.sources).toContain(path);
  });

  it('applies metal overrides without changing the version', () => {
    const set = loadProfiles({ env: {} });
    const gold = set.get('ring', 'au750_yellow');
    const silver = set.get('ring', 'ag925');
    expect(silver.porosity.failDiameterMm).toBeGreaterThan(gold.porosity.failDiameterMm);
    expect(silver.version).toBe(gold.version);
  });

  it('refuses an invalid override naming the field, and an unknown profile', async () => {
    const path = await overrideFile({ profiles: { ring: { quality: { maxBlur: -1 } } } });
    let error: unknown;
    try {
      loadProfiles({ overridePath: path, env: {} });
    } catch (e) {
      error = e;
    }
    expect(isPipelineError(error, 'profile_invalid')).toBe(true);
    expect((error as Error).message).toContain('profiles.ring.quality.maxBlur');
    expect(() => loadProfiles({ env: {} }).get('tiara')).toThrow(/unknown profile "tiara"/);
  });
});

function stripName<T extends { name: string; version: string }>(p: T): Omit<T, 'name' | 'version'> {
  const { name: _n, version: _v, ...rest } = p;
  return rest;
}

function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)]));
}
