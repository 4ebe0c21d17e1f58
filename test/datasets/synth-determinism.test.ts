import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DomainSchema } from '../../datasets/synth/options.schema.js';
import { generateDataset } from '../../datasets/synth/generate.js';
import { planImage } from '../../datasets/synth/plan.js';
import { renderSample } from '../../datasets/synth/render-sample.js';
import { POLISH_KINDS, POROSITY_KINDS, SPACING_KINDS } from '../../datasets/manifest.schema.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else out.set(p.slice(dir.length), await readFile(p));
    }
  };
  await walk(dir);
  return out;
}

describe('synth determinism and mix', () => {
  it('renders the same bytes twice for the same seed and index', async () => {
    const a = await renderSample({ seed: 7, index: 3, size: 384 });
    const b = await renderSample({ seed: 7, index: 3, size: 384 });
    expect(a.jpeg.equals(b.jpeg)).toBe(true);
    expect(JSON.stringify(a.entry)).toBe(JSON.stringify(b.entry));
    expect(Object.keys(a.masks)).toEqual(Object.keys(b.masks));
    for (const k of Object.keys(a.masks)) expect(a.masks[k].equals(b.masks[k])).toBe(true);
    const c = await renderSample({ seed: 8, index: 3, size: 384 });
    expect(c.jpeg.equals(a.jpeg)).toBe(false);
  });

  it('writes byte-identical folders with one worker and with two', async () => {
    const one = await mkdtemp(join(tmpdir(), 'synth-1-'));
    const two = await mkdtemp(join(tmpdir(), 'synth-2-'));
    dirs.push(one, two);
    const domain = DomainSchema.parse({});
    await generateDataset({ out: one, count: 6, seed: 11, size: 320, workers: 1, domain, progress: false });
    await generateDataset({ out: two, count: 6, seed: 11, size: 320, workers: 2, domain, progress: false });
    const a = await filesOf(one);
    const b = await filesOf(two);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [k, v] of a) expect(v.equals(b.get(k)!), k).toBe(true);
    const manifest = (await readFile(join(one, 'manifest.jsonl'), 'utf8')).trim().split('\n');
    expect(manifest.map((l) => JSON.parse(l).file)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `images/s11-00000${i}.jpg`));
  });

  it('plans every kind and about a third clean images in a 200-image run of seed 7', () => {
    const domain = DomainSchema.parse({});
    const plans = Array.from({ length: 200 }, (_, i) => planImage(7, i, domain, false));
    const kinds = new Set(plans.flatMap((p) => [...p.porosity, ...p.spacing, ...p.polish]));
    for (const k of [...POROSITY_KINDS, ...SPACING_KINDS, ...POLISH_KINDS]) expect(kinds, k).toContain(k);
    const clean = plans.filter((p) => p.porosity.length + p.spacing.length + p.polish.length === 0).length;
    expect(clean / 200).toBeGreaterThan(0.25);
    expect(clean / 200).toBeLessThan(0.42);
    for (const p of plans) if (p.spacing.length > 0) expect(p.setting).not.toBeNull();
  });

  it('realises the plan when rendering (a rendered run of 16 images)', async () => {
    for (let index = 0; index < 16; index++) {
      const s = await renderSample({ seed: 7, index, size: 512 });
      const plan = s.entry.render as { plan: Record<string, string[]> };
      const kinds = new Set(s.entry.defects.map((d) => d.kind));
      for (const list of Object.values(plan.plan)) for (const k of list) expect(kinds, `${s.entry.file} ${k}`).toContain(k);
    }
  });
});
