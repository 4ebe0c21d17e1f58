import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calibrateGates, gateAtFpr, gateBalanced, pieceBound, polishFamilyBound } from '../../models/eval/calibrate-gates.js';
import { ModelManifestSchema } from '../../pipeline/model-manifest.schema.js';
import { modelImageThreshold } from '../../pipeline/score.js';
import type { ImageOutcome } from '../../models/eval/run-eval.js';

const rows = (neg: number[], pos: number[]) => [
  ...neg.map((score) => ({ score, positive: false })),
  ...pos.map((score) => ({ score, positive: true })),
];

describe('image gate at a bounded false-positive rate', () => {
  // 20 negatives 0.01..0.20, positives spread over the same range and above.
  const neg = Array.from({ length: 20 }, (_, i) => (i + 1) / 100);
  const pos = [0.05, 0.15, 0.19, 0.2, 0.5, 0.9];

  it('lets at most floor(maxFpr x negatives) negatives reach the gate, and no fewer than that bound requires', () => {
    const g = gateAtFpr(rows(neg, pos), 0.1)!; // 2 of 20 negatives may pass: 0.20 and 0.19
    expect(g.threshold).toBeCloseTo(0.1801, 4);
    expect(g.falsePositiveRate).toBe(0.1);
    expect(g.recall).toBeCloseTo(4 / 6, 6);
    expect(g.negatives).toBe(20);
    expect(g.positives).toBe(6);
  });

  it('puts the gate just above the highest negative at FPR 0, and records the trade-off at other rates', () => {
    const g = gateAtFpr(rows(neg, pos), 0)!;
    expect(g.threshold).toBeCloseTo(0.2001, 4);
    expect(g.falsePositiveRate).toBe(0);
    expect(g.recall).toBeCloseTo(2 / 6, 6);
    expect(g.recallAtFpr['0.05']).toBe(0.5); // gate 0.1901: 0.2, 0.5, 0.9
    expect(g.recallAtFpr['0.2']).toBeCloseTo(0.667, 3); // gate 0.1601: 0.19 too
  });

  it('has nothing to calibrate without negatives', () => {
    expect(gateAtFpr(rows([], pos), 0.05)).toBeNull();
  });
});

describe('image gate for balanced accuracy', () => {
  const row = (score: number, positive: boolean) => ({ score, positive });

  it('separates separable scores in the middle of the gap, not on a photo', () => {
    const g = gateBalanced([row(0.1, false), row(0.2, false), row(0.3, false), row(0.6, true), row(0.7, true)])!;
    expect(g.threshold).toBeCloseTo(0.45, 6);
    expect(g.recall).toBe(1);
    expect(g.falsePositiveRate).toBe(0);
  });

  it('weighs the classes equally: one positive among many negatives still decides the gate', () => {
    // Plain accuracy would pass everything (9/10); balanced accuracy catches the positive at 1 false alarm.
    const rows = [...[0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.8].map((s) => row(s, false)), row(0.7, true)];
    const g = gateBalanced(rows)!;
    expect(g.recall).toBe(1);
    expect(g.falsePositiveRate).toBeCloseTo(1 / 9, 6);
    expect(g.threshold).toBeGreaterThan(0.45);
    expect(g.threshold).toBeLessThan(0.7);
  });

  it('takes the middle of the widest run of equally good cuts', () => {
    // Tied scores holding one photo of each class leave balanced accuracy unchanged across them: the cuts 0.2, 0.4
    // and 0.7 all score 2/3, and the gate is the middle one.
    const g = gateBalanced([row(0.1, false), row(0.3, false), row(0.3, true), row(0.5, false), row(0.5, true), row(0.9, true)])!;
    expect(g.threshold).toBeCloseTo(0.4, 6);
  });

  it('gives no gate without both classes', () => {
    expect(gateBalanced([row(0.2, false), row(0.4, false)])).toBeNull();
    expect(gateBalanced([row(0.2, true)])).toBeNull();
  });
});

describe('polish family bound', () => {
  // Four kinds whose false alarms fall on different clean photos: at 5 % each, a fifth of clean photos would be flagged.
  const kinds = ['scratch', 'haze', 'tool_mark', 'orange_peel'] as const;
  const photo = (scores: Partial<Record<(typeof kinds)[number], number>>, defect?: (typeof kinds)[number]) =>
    ({
      entry: { labels: { porosity: false, stone_spacing: false, polish: defect !== undefined }, defects: defect ? [{ family: 'polish', kind: defect }] : [] },
      report: { families: { polish: { kindScores: { scratch: 0, haze: 0, tool_mark: 0, orange_peel: 0, ...scores } } } },
    }) as unknown as ImageOutcome;
  const images: ImageOutcome[] = [];
  for (let i = 0; i < 200; i++) images.push(photo({ [kinds[i % 4]!]: (i % 50) / 50 }));
  for (const k of kinds) for (let i = 0; i < 10; i++) images.push(photo({ [k]: 0.5 + i / 20 }, k));

  it('keeps the share of clean photos flagged by any kind within the bound, at the largest common per-kind rate', () => {
    const b = polishFamilyBound(images, 0.05, 0.05);
    expect(b.falsePositiveRate).toBeLessThanOrEqual(0.05);
    expect(b.negatives).toBe(200);
    const flagged = (f: number) => {
      const looser = polishFamilyBound(images, f, 1);
      return looser.falsePositiveRate;
    };
    // One grid step looser would break the bound; per-kind 5 % alone would flag far more.
    expect(flagged(b.perKindFpr + 0.0025)).toBeGreaterThan(0.05);
    expect(flagged(0.05)).toBeGreaterThan(0.15);
    for (const k of kinds) expect(b.stats[k]!.falsePositiveRate).toBeLessThanOrEqual(b.perKindFpr + 1e-9);
  });
});

describe('clean-piece bound', () => {
  const kinds = ['scratch', 'haze', 'tool_mark', 'orange_peel'] as const;
  type Kind = (typeof kinds)[number];
  interface Photo {
    porosity?: number;
    polish?: Partial<Record<Kind, number>>;
    spacingFlag?: boolean;
    defect?: 'porosity' | Kind;
    piece?: string | null;
    verdict?: 'pass' | 'retake';
  }
  const photo = (p: Photo) =>
    ({
      entry: {
        piece: p.piece === undefined ? 'ring_shank' : p.piece,
        labels: { porosity: p.defect === 'porosity', stone_spacing: false, polish: p.defect !== undefined && p.defect !== 'porosity' },
        defects: p.defect && p.defect !== 'porosity' ? [{ family: 'polish', kind: p.defect }] : [],
      },
      report: {
        verdict: p.verdict ?? 'pass',
        families: { porosity: { score: p.porosity ?? 0 }, polish: { kindScores: { scratch: 0, haze: 0, tool_mark: 0, orange_peel: 0, ...p.polish } } },
      },
      flagged: { porosity: false, stone_spacing: p.spacingFlag ?? false, polish: false },
    }) as unknown as ImageOutcome;
  // 200 clean pieces whose porosity and polish false alarms fall on different photos, 4 flagged by spacing's mm rule.
  const clean = Array.from({ length: 200 }, (_, i) =>
    photo({ porosity: i % 2 === 0 ? (i % 100) / 200 : 0, polish: i % 2 === 1 ? { [kinds[(i >> 1) % 4]!]: (i % 100) / 100 } : {}, spacingFlag: i % 50 === 7 }),
  );
  const defects = [
    ...Array.from({ length: 20 }, (_, i) => photo({ porosity: 0.3 + i / 40, defect: 'porosity' })),
    ...kinds.flatMap((k) => Array.from({ length: 10 }, (_, i) => photo({ polish: { [k]: 0.5 + i / 20 }, defect: k }))),
  ];
  // Neither a retake nor a photo of no piece (a magnetic tile) is a clean piece, however high they score.
  const others = [photo({ porosity: 0.99, verdict: 'retake' }), photo({ porosity: 0.99, piece: null })];
  const images = [...clean, ...defects, ...others];

  it('scales every channel down together to the largest factor that keeps clean pieces within the bound', () => {
    const b = pieceBound(images, 0.05, 0.05, 0.06);
    expect(b.negatives).toBe(200);
    expect(b.spacingFalsePositiveRate).toBeCloseTo(4 / 200, 9);
    expect(b.falsePositiveRate).toBeLessThanOrEqual(0.06);
    expect(b.scale).toBeLessThan(1);
    // Unscaled, the families add up past the bound; one grid step looser than the chosen factor breaks it.
    expect(pieceBound(images, 0.05, 0.05, 1).falsePositiveRate).toBeGreaterThan(0.06);
    const looser = b.scale + 1 / 40;
    expect(pieceBound(images, 0.05 * looser, 0.05 * looser, 1).falsePositiveRate).toBeGreaterThan(0.06);
    // The tighter gates still catch defects.
    expect(b.stats.porosity!.recall).toBeGreaterThan(0.5);
  });

  it('says when spacing alone exceeds the bound: every gate above its highest negative, the rate above the bound', () => {
    const b = pieceBound(images, 0.05, 0.05, 0.01);
    expect(b.scale).toBe(0);
    expect(b.stats.porosity!.falsePositiveRate).toBe(0);
    expect(b.falsePositiveRate).toBeCloseTo(4 / 200, 9);
  });
});

describe('gates for downsampled photos', () => {
  // A validation set at two resolutions: photos near the working scale score clean pieces low, photos shrunk 3x higher.
  const photo = (porosity: number, scaleToPhoto: number, defect: boolean) =>
    ({
      entry: { piece: 'ring_band', labels: { porosity: defect, stone_spacing: false, polish: false }, defects: [] },
      report: {
        verdict: 'pass',
        working: { scaleToPhoto },
        families: { porosity: { score: porosity }, polish: { kindScores: { scratch: 0.1, haze: 0.1, tool_mark: 0.1, orange_peel: 0.1 } } },
      },
      flagged: { porosity: false, stone_spacing: false, polish: false },
    }) as unknown as ImageOutcome;
  const near = [...Array.from({ length: 40 }, (_, i) => photo(i / 100, 1, false)), ...Array.from({ length: 10 }, () => photo(0.9, 1, true))];
  const shrunk = [...Array.from({ length: 40 }, (_, i) => photo(0.3 + i / 100, 3.2, false)), ...Array.from({ length: 10 }, () => photo(0.95, 3.2, true))];
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("sets the shrunk photos' own gates from them alone and leaves the main gates as they were", async () => {
    const root = await mkdtemp(join(tmpdir(), 'loupe-gates-'));
    dirs.push(root);
    const shipped = join(import.meta.dirname, '../../models/loupe-seg/1.15.0/model.json');
    await mkdir(join(root, 'loupe-seg/9.9.9'), { recursive: true });
    const before = ModelManifestSchema.parse(JSON.parse(await readFile(shipped, 'utf8')));
    await writeFile(join(root, 'loupe-seg/9.9.9/model.json'), JSON.stringify({ ...before, version: '9.9.9' }));
    await calibrateGates({ data: ['val-12mp'], modelsDir: root, model: 'loupe-seg@9.9.9', profile: 'band', maxFpr: 0.05, scored: [...near, ...shrunk], downsampled: 1.5 });

    const after = ModelManifestSchema.parse(JSON.parse(await readFile(join(root, 'loupe-seg/9.9.9/model.json'), 'utf8')));
    expect(after.operatingPoints.porosity!.imageThreshold).toBe(before.operatingPoints.porosity!.imageThreshold);
    expect(after.operatingPoints.polish).toEqual(before.operatingPoints.polish);
    expect(after.operatingPoints.imageGates).toEqual(before.operatingPoints.imageGates);
    const band = after.operatingPoints.downsampledGates!;
    expect(band.minScaleToPhoto).toBe(1.5);
    // 2 of the 40 shrunk clean photos may reach it (0.69 and 0.68); the near photos (all below 0.4) play no part.
    expect(band.porosity).toBeCloseTo(0.6701, 4);
    expect(modelImageThreshold(after.operatingPoints, 'porosity', 3.2)).toBe(band.porosity);
    expect(modelImageThreshold(after.operatingPoints, 'porosity', 1.2)).toBe(before.operatingPoints.porosity!.imageThreshold);
    expect(modelImageThreshold(after.operatingPoints, 'haze', 3.2)).toBe(band.polish!.haze);
  });

  it('refuses a set none of whose photos were shrunk that much', async () => {
    await expect(calibrateGates({ data: ['val'], modelsDir: '/nonexistent', model: 'loupe-seg@9.9.9', profile: 'band', maxFpr: 0.05, scored: near, downsampled: 1.5 })).rejects.toThrow(/no photo of val was shrunk 1.5x/);
  });
});
