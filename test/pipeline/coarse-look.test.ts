import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../pipeline/inspect.js';
import { loadModel, releaseModel, type LoadedModel } from '../../pipeline/registry.js';
import { InspectionReportSchema, type InspectionReport } from '../../pipeline/report.schema.js';
import { editJson, newestShippedWithVerifier, ringProfile, SAMPLES_DIR } from './helpers.js';

// The porosity coarse look (`CoarseLookSchema`), through inspect() on committed generator samples: its score must be
// what the same networks score at the working scale and at the look's scale, averaged, and nothing else may move.
const COARSE_MM_PER_PX = 0.024;
const FINER = [0, 2, 13, 19]; // 0.0107-0.0139 mm/px: pores (0, 2, 13) and a clean band (19)
const COARSER = [12, 17]; // 0.0279 and 0.0287 mm/px: already coarser than the look

describe('inspect() with a porosity coarse look', () => {
  let tmp: string;
  let withLook: LoadedModel;
  let fineOnly: LoadedModel;
  let coarseOnly: LoadedModel;
  const samples: Array<{ file: string; mmPerPx: number; metal: string }> = [];

  /** A copy of the newest shipped version, its model.json edited, loaded on one thread. */
  async function variant(name: string, edit: (json: Record<string, any>) => void): Promise<LoadedModel> {
    const shipped = await newestShippedWithVerifier();
    const dir = join(tmp, name, 'loupe-seg', shipped.split('/').at(-1)!);
    await cp(shipped, dir, { recursive: true, filter: (src) => !/\/(eval|failures)(\/|$)/.test(src) });
    await editJson(join(dir, 'model.json'), edit);
    return loadModel(dir, 1);
  }

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'loupe-coarse-look-'));
    withLook = await variant('look', (j) => {
      j.coarseLook = { workingMmPerPx: COARSE_MM_PER_PX, kinds: ['porosity'] };
    });
    fineOnly = await variant('fine', (j) => {
      delete j.coarseLook;
    });
    // The same networks fed at the look's scale as their working scale: what the look alone sees.
    coarseOnly = await variant('coarse', (j) => {
      delete j.coarseLook;
      j.input.workingMmPerPx = COARSE_MM_PER_PX;
    });
    const lines = (await readFile(join(SAMPLES_DIR, 'manifest.jsonl'), 'utf8')).trim().split('\n');
    for (const line of lines) samples.push(JSON.parse(line));
  });
  afterAll(async () => {
    await Promise.all([withLook, fineOnly, coarseOnly].filter(Boolean).map((m) => releaseModel(m)));
    await rm(tmp, { recursive: true, force: true });
  });

  async function reportOf(model: LoadedModel, index: number): Promise<InspectionReport> {
    const s = samples[index]!;
    const bytes = await readFile(join(SAMPLES_DIR, s.file));
    return InspectionReportSchema.parse(await inspect(bytes, { mmPerPx: s.mmPerPx, metal: s.metal }, ringProfile(), { models: [model] }));
  }

  it('scores porosity as the mean of the working-scale look and the coarse look on photos finer than the look', async () => {
    let moved = 0;
    for (const i of FINER) {
      expect(samples[i]!.mmPerPx).toBeLessThan(COARSE_MM_PER_PX);
      const [both, fine, coarse] = [await reportOf(withLook, i), await reportOf(fineOnly, i), await reportOf(coarseOnly, i)];
      const expected = (fine.families.porosity.score + coarse.families.porosity.score) / 2;
      // The look resamples the decoded working image; the coarse-only run decodes to its scale: a few grey levels apart.
      expect(Math.abs(both.families.porosity.score - expected), `${samples[i]!.file}`).toBeLessThan(0.02);
      if (Math.abs(both.families.porosity.score - fine.families.porosity.score) > 0.01) moved++;
      // Only the porosity score moves: its regions, the stones and the polish kinds are the working-scale look's.
      expect(both.families.porosity.findings.map((f) => f.areaMm2)).toEqual(fine.families.porosity.findings.map((f) => f.areaMm2));
      expect(both.families.stone_spacing.stones).toEqual(fine.families.stone_spacing.stones);
      expect(both.families.polish.kindScores).toEqual(fine.families.polish.kindScores);
    }
    // The look is not a no-op: on these photos the two scales disagree.
    expect(moved).toBeGreaterThan(0);
  });

  it('leaves a photo already coarser than the look to its one look', async () => {
    for (const i of COARSER) {
      expect(samples[i]!.mmPerPx).toBeGreaterThanOrEqual(COARSE_MM_PER_PX);
      const [both, fine] = [await reportOf(withLook, i), await reportOf(fineOnly, i)];
      expect(both.families.porosity).toEqual(fine.families.porosity);
      expect(both.verdict).toBe(fine.verdict);
    }
  });
});
