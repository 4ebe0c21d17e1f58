import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePhoto } from '../../pipeline/decode.js';
import { runModel } from '../../pipeline/infer.js';
import { inspect } from '../../pipeline/inspect.js';
import { renderOverlay } from '../../pipeline/overlay.js';
import { createModelRegistry, type ModelLease, type ModelRegistry } from '../../pipeline/registry.js';
import { InspectionReportSchema, type InspectMetadata } from '../../pipeline/report.schema.js';
import { FIXTURE_MODELS, ringProfile } from './helpers.js';
import { renderPhoto, type PhotoSpec } from './photos.js';

let registry: ModelRegistry;
let lease: ModelLease;
const profile = ringProfile();

beforeAll(async () => {
  // One thread: vitest runs two test files at once on the 2-core machine.
  registry = await createModelRegistry(FIXTURE_MODELS, { intraOpThreads: 1 });
  lease = await registry.lease();
});
afterAll(async () => {
  lease.release();
  await registry.close();
});

async function run(spec: PhotoSpec, metadata: InspectMetadata = { mmPerPx: 0.01 }, format: 'png' | 'jpeg' = 'png') {
  const bytes = await renderPhoto(spec, format);
  const report = await inspect(bytes, metadata, profile, { models: lease.models });
  // Every report the pipeline produces satisfies its own contract.
  return { bytes, report: InspectionReportSchema.parse(report) };
}

describe('inspect() end to end with the hand-crafted fixture model', () => {
  it('finds a dark disc on a bright metal-like photo and reports its diameter in mm', async () => {
    const { report } = await run({ width: 800, height: 600, pores: [{ cx: 300.4, cy: 280.7, r: 15 }] });
    expect(report.quality.ok).toBe(true);
    const pores = report.families.porosity.findings;
    expect(pores).toHaveLength(1);
    expect(pores[0]!.diameterMm).toBeGreaterThan(0.3 * 0.95);
    expect(pores[0]!.diameterMm).toBeLessThan(0.3 * 1.05);
    expect(pores[0]!.cx).toBeCloseTo(300.4, 0);
    expect(pores[0]!.cy).toBeCloseTo(280.7, 0);
    // 0.3 mm is past the ring's fail diameter.
    expect(report.families.porosity.verdict).toBe('fail');
    expect(report.verdict).toBe('fail');
    expect(report.families.porosity.score).toBeGreaterThan(0.5);
    expect(report.families.porosity.mask).not.toBeNull();
    // The score was read on the pore: the reticle an unoutlined flag would get points at it.
    const at = report.families.porosity.scoreAt!;
    expect(Math.hypot(at.cx - 300.4, at.cy - 280.7)).toBeLessThan(15);
    expect(report.models).toEqual([{ id: 'loupe-fixture', version: '1.0.0', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(report.profile).toEqual({ name: 'ring', version: profile.version });
    expect(report.photo).toMatchObject({ width: 800, height: 600, mmPerPx: 0.01, mmPerPxSource: 'given' });
    for (const key of ['decode', 'quality', 'preprocess', 'inference', 'postprocess', 'total'] as const) {
      expect(report.timingsMs[key]).toBeGreaterThanOrEqual(0);
    }
  });

  it('reports in original photo pixels when the photo is downsampled to the working scale', async () => {
    // 0.005 mm/px photo, model works at 0.01: inference at half size; the 0.3 mm pore is 60 photo px wide.
    const { report } = await run({ width: 1600, height: 1200, pores: [{ cx: 700, cy: 520, r: 30 }] }, { mmPerPx: 0.005 }, 'jpeg');
    expect(report.working).toMatchObject({ width: 800, height: 600, scaleToPhoto: 2, mmPerPx: 0.01 });
    const pore = report.families.porosity.findings[0]!;
    expect(report.families.porosity.findings).toHaveLength(1);
    expect(pore.cx).toBeCloseTo(700, -0.5);
    expect(pore.cy).toBeCloseTo(520, -0.5);
    expect(pore.bbox[0]).toBeGreaterThan(700 - 34);
    expect(pore.bbox[2]).toBeLessThan(700 + 34);
    expect(pore.diameterMm).toBeGreaterThan(0.3 * 0.93);
    expect(pore.diameterMm).toBeLessThan(0.3 * 1.07);
    // Where the score was read, in photo pixels too (working px would put it at 350, 260).
    const at = report.families.porosity.scoreAt!;
    expect(Math.hypot(at.cx - 700, at.cy - 520)).toBeLessThan(30);
  });

  it('marks what counted: a pore under a gate it cannot reach is listed as below gate, passes and leaves no mask', async () => {
    const spec = { width: 800, height: 600, pores: [{ cx: 300.4, cy: 280.7, r: 15 }] };
    const counted = (await run(spec)).report;
    expect(counted.families.porosity.findings.map((f) => f.belowGate)).toEqual([false]);
    expect(Object.keys(counted.families.polish.kindGates ?? {}).sort()).toEqual(Object.keys(counted.families.polish.kindScores).sort());
    const gated = { ...profile, scoreThresholds: { ...profile.scoreThresholds, porosity: Math.min(1, counted.families.porosity.score + 0.01) } };
    const below = InspectionReportSchema.parse(await inspect(await renderPhoto(spec, 'png'), { mmPerPx: 0.01 }, gated, { models: lease.models }));
    expect(below.families.porosity.findings.map((f) => f.belowGate)).toEqual([true]);
    expect(below.families.porosity.verdict).toBe('pass');
    expect(below.families.porosity.mask).toBeNull();
  });

  it('passes a clean photo', async () => {
    const { report } = await run({ width: 800, height: 600 });
    expect(report.families.porosity.findings).toEqual([]);
    expect(report.verdict).toBe('pass');
  });

  it('uses the profile default scale when none is given, and says so', async () => {
    const { report } = await run({ width: 800, height: 600 }, {});
    expect(report.photo.mmPerPx).toBe(profile.defaultMmPerPx);
    expect(report.photo.mmPerPxSource).toBe('default');
  });

  it('answers retake for a blurred photo and for a black one, never pass', async () => {
    const blurred = await run({ width: 800, height: 600, blur: 4 });
    expect(blurred.report.verdict).toBe('retake');
    expect(blurred.report.quality.reasons.map((r) => r.code)).toContain('blurred');
    const black = await run({ width: 800, height: 600, gain: 0 });
    expect(black.report.verdict).toBe('retake');
    expect(black.report.quality.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['underexposed', 'no_piece']));
  });

  it('measures a stone row and names a widened gap with its size', async () => {
    // Fixture stones: bright discs, radius read as 20 working px. Pitch 60 px = 0.6 mm, gap 0.2 mm; stone 4 onward +0.2 mm.
    const stones = Array.from({ length: 8 }, (_, i) => ({ cx: 150 + i * 60 + (i >= 4 ? 20 : 0), cy: 300, r: 20 }));
    const { report } = await run({ width: 800, height: 600, stones }, { mmPerPx: 0.01, expectedStones: 8 });
    const s = report.families.stone_spacing;
    expect(s.found).toBe(8);
    expect(s.gapsMm[3]).toBeCloseTo(0.4, 2);
    expect(s.nominalGapMm).toBeCloseTo(0.2, 2);
    const wide = s.findings.find((f) => f.kind === 'gap_wide')!;
    expect(wide.gapIndex).toBe(3);
    expect(wide.deviationMm).toBeCloseTo(0.2, 2);
    expect(wide.gapMm).toBeCloseTo(0.4, 2);
    expect(s.verdict).toBe('fail');
    expect(s.missing).toEqual([]);
  });

  it('hands the stitched maps to onMaps for callers that need pixels', async () => {
    const bytes = await renderPhoto({ width: 1600, height: 1200, pores: [{ cx: 700, cy: 520, r: 30 }] });
    const seen: Array<{ width: number; height: number; scaleToPhoto: number; channels: string[] }> = [];
    await inspect(bytes, { mmPerPx: 0.005 }, profile, {
      models: lease.models,
      onMaps: (m) => seen.push({ width: m.width, height: m.height, scaleToPhoto: m.scaleToPhoto, channels: [...m.planes.keys()] }),
    });
    expect(seen).toEqual([
      { width: 800, height: 600, scaleToPhoto: 2, channels: ['porosity', 'scratch', 'haze', 'tool_mark', 'orange_peel', 'stone_heat', 'stone_radius'] },
    ]);
  });

  it('refuses metadata that does not validate', async () => {
    const bytes = await renderPhoto({ width: 64, height: 64 });
    await expect(inspect(bytes, { mmPerPx: -1 }, profile, { models: lease.models })).rejects.toMatchObject({ code: 'invalid_metadata' });
  });

  it('gives a typed error for hostile bytes instead of crashing', async () => {
    await expect(inspect(Buffer.from('not an image'), {}, profile, { models: lease.models })).rejects.toMatchObject({
      code: 'unsupported_image',
      httpStatus: 415,
    });
  });
});

describe('findings only on the piece', () => {
  it('reports a dark disc on the piece but not the same disc on the backdrop', async () => {
    // The band spans y 150..450; the backdrop disc sits above it, well clear of the silhouette.
    const onBackdrop = await run({ width: 800, height: 600, pores: [{ cx: 400, cy: 70, r: 15 }] });
    expect(onBackdrop.report.pieceMask).toMatchObject({ source: 'piece', fallback: null });
    expect(onBackdrop.report.families.porosity.findings).toEqual([]);
    expect(onBackdrop.report.families.porosity.score).toBeLessThan(0.5);
    expect(onBackdrop.report.verdict).toBe('pass');

    const onPiece = await run({ width: 800, height: 600, pores: [{ cx: 400, cy: 300, r: 15 }] });
    expect(onPiece.report.families.porosity.findings).toHaveLength(1);
    expect(onPiece.report.families.porosity.verdict).toBe('fail');
  });

  it('falls back to the whole frame when the piece fills it, and keeps the finding', async () => {
    // Metal everywhere, a pore in a corner: no backdrop to learn, so nothing may be masked away.
    const width = 640;
    const height = 480;
    const data = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const pore = Math.hypot(x - 60, y - 50) < 12;
        const shade = 1 - 0.1 * Math.abs(y / height - 0.5);
        const rgb = pore ? [38, 34, 30] : [222 * shade, 192 * shade, 124 * shade];
        for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.round(rgb[c]!);
      }
    }
    const bytes = await sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
    const report = InspectionReportSchema.parse(await inspect(bytes, { mmPerPx: 0.01 }, profile, { models: lease.models }));
    expect(report.pieceMask?.source).toBe('frame');
    expect(report.pieceMask?.fallback).not.toBeNull();
    expect(report.families.porosity.findings).toHaveLength(1);
  });
});

describe('tiling and stitching', () => {
  /** A small photo with a pore and a stone, decoded, and the fixture model to tile it. */
  const tilingCase = async () => {
    const bytes = await renderPhoto({ width: 600, height: 440, pores: [{ cx: 250, cy: 200, r: 12 }], stones: [{ cx: 400, cy: 220, r: 20 }] });
    return { rgb: await decodePhoto(bytes, profile.decode), model: lease.models[0]!, timings: { preprocessMs: 0, inferenceMs: 0 } };
  };

  it('reproduces whole-image inference from overlapping tiles', async () => {
    const { rgb, model, timings } = await tilingCase();
    const tiled = await runModel(model, rgb, { batchSize: 3 }, timings);
    // Same session, one tile covering everything: the fixture's windows (<= 20 px) fit in half the 64 px overlap.
    const whole = { ...model, manifest: { ...model.manifest, input: { ...model.manifest.input, tile: { size: 608, overlap: 0 } } } };
    const single = await runModel(whole, rgb, { batchSize: 1 }, timings);
    for (const name of ['porosity', 'scratch', 'stone_heat', 'stone_radius']) {
      const a = tiled.planes.get(name)!;
      const b = single.planes.get(name)!;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst, name).toBeLessThan(1e-4);
    }
  });

  it('leaves skipped channels out and stitches the others exactly as before', async () => {
    const { rgb, model, timings } = await tilingCase();
    const all = await runModel(model, rgb, { batchSize: 2 }, timings);
    const some = await runModel(model, rgb, { batchSize: 2, skipChannels: new Set(['scratch', 'haze']) }, timings);
    expect([...some.planes.keys()]).toEqual([...all.planes.keys()].filter((k) => k !== 'scratch' && k !== 'haze'));
    for (const [name, plane] of some.planes) expect(plane, name).toEqual(all.planes.get(name));
  });
});

describe('overlay', () => {
  it('renders a PNG of at most 2048 px from the photo bytes and the report alone', async () => {
    const stones = Array.from({ length: 6 }, (_, i) => ({ cx: 800 + i * 120, cy: 1000, r: 40 }));
    const { bytes, report } = await run(
      { width: 3000, height: 2000, pores: [{ cx: 1200, cy: 800, r: 30 }], stones },
      { mmPerPx: 0.005 },
      'jpeg',
    );
    // Through JSON, as the service stores it.
    const stored = InspectionReportSchema.parse(JSON.parse(JSON.stringify(report)));
    const png = await renderOverlay(bytes, stored);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(Math.max(meta.width!, meta.height!)).toBe(2048);
    expect(meta.width! / meta.height!).toBeCloseTo(1.5, 2);
    // The pore is tinted red where the report says it is.
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const k = 2048 / 3000;
    const i = (Math.round(800 * k) * info.width + Math.round(1200 * k)) * info.channels;
    expect(data[i]!).toBeGreaterThan(data[i + 2]! + 40);

    const small = await renderOverlay(await renderPhoto({ width: 640, height: 480 }), (await run({ width: 640, height: 480 })).report);
    expect((await sharp(small).metadata()).width).toBe(640);
  });
});
