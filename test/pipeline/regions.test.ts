import { describe, expect, it } from 'vitest';
import { analysePolishKind } from '../../pipeline/postprocess/polish.js';
import { analysePorosity } from '../../pipeline/postprocess/porosity.js';
import { findRegions, paintRegions, planeMax, regionsOn } from '../../pipeline/postprocess/regions.js';
import { compactMask, decodeRle, encodeRle } from '../../pipeline/postprocess/rle.js';
import { detectStones } from '../../pipeline/postprocess/stones.js';
import { ringProfile } from './helpers.js';

const OP = { pixelThreshold: 0.5, minAreaPx: 4, imageThreshold: 0.5 };
/** The whole frame as the piece. */
const everywhere = (w: number, h: number) => ({ onPiece: new Uint8Array(w * h).fill(1), minShare: 0.5 });

/** A probability map with antialiased discs: prob = covered fraction of the pixel. */
function discMap(w: number, h: number, discs: Array<{ cx: number; cy: number; r: number }>): Float32Array {
  const p = new Float32Array(w * h);
  for (const d of discs) {
    for (let y = Math.floor(d.cy - d.r - 1); y <= Math.ceil(d.cy + d.r + 1); y++) {
      for (let x = Math.floor(d.cx - d.r - 1); x <= Math.ceil(d.cx + d.r + 1); x++) {
        let hit = 0;
        for (let s = 0; s < 64; s++) {
          const px = x - 0.5 + ((s % 8) + 0.5) / 8;
          const py = y - 0.5 + (Math.floor(s / 8) + 0.5) / 8;
          if ((px - d.cx) ** 2 + (py - d.cy) ** 2 <= d.r * d.r) hit++;
        }
        p[y * w + x] = Math.max(p[y * w + x]!, hit / 64);
      }
    }
  }
  return p;
}

describe('region measurements in mm', () => {
  it('measures a drawn disc of known diameter within a few percent', () => {
    // 0.3 mm disc at 0.01 mm per working pixel, working pixels twice the photo's (scaleToPhoto 2).
    const w = 200;
    const h = 160;
    const plane = discMap(w, h, [{ cx: 80.3, cy: 70.6, r: 15 }]);
    const a = analysePorosity(plane, w, h, OP, ringProfile().porosity, { scaleToPhoto: 2, mmPerPx: 0.01 }, everywhere(w, h), planeMax(plane));
    expect(a.findings).toHaveLength(1);
    const f = a.findings[0]!;
    expect(f.diameterMm).toBeGreaterThan(0.3 * 0.97);
    expect(f.diameterMm).toBeLessThan(0.3 * 1.03);
    expect(f.areaMm2).toBeGreaterThan(Math.PI * 0.15 ** 2 * 0.95);
    expect(f.areaMm2).toBeLessThan(Math.PI * 0.15 ** 2 * 1.05);
    expect(f.kind).toBe('gas_void');
    expect(f.confidence).toBe(1);
    // Photo coordinates: the centre scales with the pixel-centre convention, the box with pixel edges.
    expect(f.cx).toBeCloseTo((80.3 + 0.5) * 2 - 0.5, 0);
    // Pixels at least half covered: 66..95 along x (the disc spans 65.3..95.3).
    expect(f.bbox[0]).toBe(66 * 2);
    expect(f.bbox[2]).toBe(96 * 2);
  });

  it('classifies pinholes, clusters and elongated pits', () => {
    const w = 300;
    const h = 200;
    const plane = discMap(w, h, [
      { cx: 40, cy: 40, r: 3 }, // isolated 0.06 mm: pinhole
      { cx: 150, cy: 100, r: 3 },
      { cx: 160, cy: 104, r: 3 },
      { cx: 154, cy: 112, r: 2.5 }, // three within a few diameters: cluster
    ]);
    // An elongated 0.6 x 0.16 mm pit.
    for (let y = 30; y < 46; y++) for (let x = 200; x < 260; x++) plane[y * w + x] = 0.9;
    const a = analysePorosity(plane, w, h, OP, ringProfile().porosity, { scaleToPhoto: 1, mmPerPx: 0.01 }, everywhere(w, h), planeMax(plane));
    const kinds = a.findings.map((f) => f.kind).sort();
    expect(kinds).toEqual(['cluster', 'cluster', 'cluster', 'pinhole', 'shrinkage_pit']);
    const groups = new Set(a.findings.filter((f) => f.kind === 'cluster').map((f) => f.group));
    expect(groups.size).toBe(1);
  });

  it('measures a straight scratch by its length', () => {
    const w = 400;
    const h = 300;
    const plane = new Float32Array(w * h);
    // A 2-px wide diagonal line from (50, 50) to (250, 200): 250 px long.
    for (let t = 0; t <= 1000; t++) {
      const x = Math.round(50 + 200 * (t / 1000));
      const y = Math.round(50 + 150 * (t / 1000));
      plane[y * w + x] = 0.8;
      plane[y * w + x + 1] = 0.8;
    }
    const mask = new Uint8Array(w * h);
    const tol = ringProfile().polish;
    const a = analysePolishKind({ kind: 'scratch', plane, op: OP, gate: everywhere(w, h), score: planeMax(plane) }, w, h, tol, { scaleToPhoto: 1, mmPerPx: 0.01 }, mask);
    expect(a.findings).toHaveLength(1);
    expect(a.findings[0]!.lengthMm).toBeGreaterThan(2.5 * 0.97);
    expect(a.findings[0]!.lengthMm).toBeLessThan(2.5 * 1.05);
    expect(a.findings[0]!.severity).toBe(1);
    expect(mask.reduce((s, v) => s + v, 0)).toBeGreaterThan(400);
  });

  it('drops regions below the minimum area and labels 8-connected pixels as one', () => {
    const w = 10;
    const h = 10;
    const p = new Float32Array(w * h);
    p[11] = 1; // lone pixel
    p[55] = p[66] = p[77] = p[88] = 1; // a diagonal, 8-connected
    const found = findRegions(p, w, h, 0.5, 2);
    expect(found.regions).toHaveLength(1);
    expect(found.regions[0]!.area).toBe(4);
    const painted = new Uint8Array(w * h);
    paintRegions(found, painted);
    expect([...painted.keys()].filter((i) => painted[i])).toEqual([55, 66, 77, 88]);
  });
});

describe('findings on the piece only', () => {
  // Piece: the left half of the frame.
  const w = 200;
  const h = 100;
  const leftHalf = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w / 2; x++) leftHalf[y * w + x] = 1;

  it('keeps a region mostly on the piece whole, and drops one mostly off it', () => {
    // Disc A on the piece; disc B straddles the edge with 70 % of it on the piece; disc C on the backdrop.
    const plane = discMap(w, h, [
      { cx: 40, cy: 50, r: 8 },
      { cx: 96, cy: 50, r: 10 },
      { cx: 160, cy: 50, r: 8 },
    ]);
    const kept = regionsOn(findRegions(plane, w, h, 0.5, 4), leftHalf, 0.5);
    expect(kept.regions.map((r) => Math.round(r.cx)).sort((a, b) => a - b)).toEqual([40, 96]);
    // The straddling disc keeps its full area, and the dropped one is not painted.
    expect(kept.regions.find((r) => r.cx > 90)!.area).toBeGreaterThan(Math.PI * 10 * 10 * 0.95);
    const painted = new Uint8Array(w * h);
    paintRegions(kept, painted);
    expect(painted[50 * w + 160]).toBe(0);
    expect(painted[50 * w + 96]).toBe(1);
  });

  it('scores a plane by its largest probability on the piece', () => {
    const plane = new Float32Array(w * h);
    plane[50 * w + 20] = 0.4;
    plane[50 * w + 150] = 0.9;
    expect(planeMax(plane)).toBeCloseTo(0.9, 6);
    expect(planeMax(plane, leftHalf)).toBeCloseTo(0.4, 6);
  });

  it('measures and clusters only the pores on the piece', () => {
    // Three pores close together, but only two on the piece: no cluster of three.
    const plane = discMap(w, h, [
      { cx: 88, cy: 50, r: 3 },
      { cx: 96, cy: 52, r: 3 },
      { cx: 106, cy: 50, r: 3 },
    ]);
    const a = analysePorosity(plane, w, h, OP, ringProfile().porosity, { scaleToPhoto: 1, mmPerPx: 0.01 }, { onPiece: leftHalf, minShare: 0.5 }, planeMax(plane, leftHalf));
    expect(a.findings).toHaveLength(2);
    expect(a.findings.every((f) => f.kind === 'pinhole')).toBe(true);
    expect(a.mask[50 * w + 106]).toBe(0);
  });
});

describe('stone detection', () => {
  it('finds peaks with sub-pixel centres and suppresses duplicates', () => {
    const w = 300;
    const h = 120;
    const heat = new Float32Array(w * h);
    const radius = new Float32Array(w * h).fill(12);
    const centres = [
      [60.4, 60.2],
      [110.7, 59.6],
      [161.2, 60.5],
    ] as const;
    for (const [cx, cy] of centres) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 4 ** 2));
          heat[y * w + x] = Math.max(heat[y * w + x]!, v);
        }
      }
    }
    const stones = detectStones(heat, radius, w, h, { peakThreshold: 0.5, nmsRadiusFactor: 1 }).sort((a, b) => a.x - b.x);
    expect(stones).toHaveLength(3);
    stones.forEach((s, i) => {
      expect(s.x).toBeCloseTo(centres[i]![0], 0);
      expect(Math.abs(s.x - centres[i]![0])).toBeLessThan(0.25);
      expect(Math.abs(s.y - centres[i]![1])).toBeLessThan(0.25);
      expect(s.r).toBeCloseTo(12, 5);
    });
  });
});

describe('mask run-length encoding', () => {
  it('round-trips and starts with a run of zeros', () => {
    const mask = new Uint8Array([1, 1, 0, 0, 0, 1, 0, 1, 1, 1]);
    const rle = encodeRle(mask);
    expect(rle).toEqual([0, 2, 3, 1, 1, 3]);
    expect([...decodeRle({ width: 5, height: 2, scaleToPhoto: 1, rle })]).toEqual([...mask]);
  });

  it('halves a mask that would be too large, keeping every defect', () => {
    const w = 400;
    const h = 400;
    const mask = new Uint8Array(w * h);
    for (let i = 0; i < mask.length; i += 7) mask[i] = 1;
    const c = compactMask(mask, w, h, 1.5, 1000)!;
    expect(c.rle.length).toBeLessThanOrEqual(1000);
    expect(c.scaleToPhoto).toBeGreaterThan(1.5);
    expect(c.width * c.scaleToPhoto).toBeCloseTo(w * 1.5, -1);
    expect(compactMask(new Uint8Array(100), 10, 10, 1)).toBeNull();
  });
});

describe('polish regions behind the verifier', () => {
  const w = 200;
  const h = 120;
  const tol = ringProfile().polish;
  const scale = { scaleToPhoto: 2, mmPerPx: 0.01 };
  // Two lines the seg map found: one the verifier confirms, one it rejects (a hallmark's stroke, say).
  const plane = new Float32Array(w * h);
  for (let x = 20; x < 80; x++) plane[30 * w + x] = plane[31 * w + x] = 0.7;
  for (let x = 120; x < 160; x++) plane[90 * w + x] = plane[91 * w + x] = 0.7;
  const analyse = (points: Array<{ x: number; y: number; p: number }>, mask: Uint8Array | null) =>
    analysePolishKind(
      { kind: 'scratch', plane, op: OP, gate: everywhere(w, h), score: Math.max(...points.map((q) => q.p)), verified: { points, gate: 0.5, patchPx: 64 } },
      w,
      h,
      tol,
      scale,
      mask,
    );

  it('counts and paints only the regions a confirming candidate lies on', () => {
    const mask = new Uint8Array(w * h);
    const a = analyse([{ x: 50, y: 32, p: 0.9 }, { x: 140, y: 90, p: 0.2 }], mask);
    expect(a.findings).toHaveLength(2);
    const [kept, rejected] = a.findings;
    expect(kept).toMatchObject({ belowGate: false, confidence: 0.9 });
    expect(kept!.lengthMm).toBeCloseTo(0.6, 1);
    expect(rejected).toMatchObject({ belowGate: true, confidence: 0.2 });
    expect(mask[30 * w + 50]).toBe(1);
    expect(mask[90 * w + 140]).toBe(0);
  });

  it('reports a confirmed place without a seg region once, at review size, boxed by the patch', () => {
    const a = analyse([{ x: 100, y: 60, p: 0.8 }, { x: 104, y: 62, p: 0.7 }], null);
    const extra = a.findings.filter((f) => !f.belowGate);
    expect(extra).toHaveLength(1);
    expect(extra[0]!.bbox).toEqual([136, 56, 264, 184]);
    expect(extra[0]!.lengthMm).toBeUndefined();
    expect(extra[0]!.severity).toBeCloseTo(tol.scratch.reviewLengthMm / tol.scratch.failLengthMm, 3);
    expect(a.findings.filter((f) => f.belowGate)).toHaveLength(2);
  });
});
