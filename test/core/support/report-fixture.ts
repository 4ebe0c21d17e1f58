import { encodeRle } from '../../../pipeline/postprocess/rle.js';
import { InspectionReportSchema, type InspectionReport, type Verdict } from '../../../pipeline/report.schema.js';

const gate = { scoreThreshold: 0.5, source: 'model' as const };

/** A schema-valid report with one pore (when `porous`), for store and API tests that need no model. */
export function fakeReport(opts: { verdict?: Verdict; porous?: boolean; view?: string; sha256?: string } = {}): InspectionReport {
  const porous = opts.porous ?? false;
  return InspectionReportSchema.parse({
    schemaVersion: 1,
    verdict: opts.verdict ?? (porous ? 'fail' : 'pass'),
    photo: { sha256: opts.sha256 ?? 'a'.repeat(64), width: 800, height: 600, mmPerPx: 0.01, mmPerPxSource: 'given', format: 'jpeg' },
    view: opts.view ?? 'top',
    metal: 'au750_yellow',
    working: { width: 800, height: 600, mmPerPx: 0.01, scaleToPhoto: 1 },
    quality: {
      ok: true,
      reasons: [],
      metrics: { blur: 0.1, meanLuma: 0.5, clippedHigh: 0, clippedLow: 0, pieceFraction: 0.4, analysisWidth: 800, analysisHeight: 600 },
    },
    families: {
      porosity: {
        score: porous ? 0.9 : 0.05,
        verdict: porous ? 'fail' : 'pass',
        findings: porous
          ? [{ kind: 'gas_void', bbox: [100, 100, 130, 128], diameterMm: 0.28, areaMm2: 0.06, confidence: 0.9, cx: 115, cy: 114, elongation: 1.1 }]
          : [],
        mask: null,
        gate,
      },
      stone_spacing: {
        score: 0,
        verdict: 'pass',
        stones: [],
        gapsMm: [],
        worstDeviationMm: null,
        missing: [],
        findings: [],
        meanGapMm: null,
        spreadMm: null,
        nominalGapMm: null,
        nominalGapSource: 'none',
        expectedCount: null,
        found: 0,
        gate,
      },
      polish: { score: 0.01, verdict: 'pass', findings: [], kindScores: {}, mask: null, gate },
    },
    models: [{ id: 'loupe-seg', version: '0.0.1', sha256: 'b'.repeat(64) }],
    profile: { name: 'ring', version: '0123456789ab' },
    timingsMs: { decode: 10, quality: 2, preprocess: 5, inference: 50, postprocess: 8, total: 75 },
  });
}

/**
 * A `review` report on an 800x600 photo where one polish kind reached its gate and another did not: a pore (porosity
 * score 0.9, gate 0.5) and a 1.2 mm scratch (scratch 0.8, gate 0.5) counted; a 31.8 mm² haze patch (haze 0.3, gate
 * 0.6) is below its gate. Masks hold all three regions, as reports made before `belowGate` did. `flags: 'absent'` is
 * such a stored report (no `belowGate`, no `kindGates`); `'stated'` is what `inspect()` writes now.
 */
export const GATED = {
  pore: [100, 100, 130, 128] as const,
  scratch: [420, 300, 540, 304] as const,
  haze: [200, 380, 360, 560] as const,
};
export function gatedReport(opts: { flags: 'stated' | 'absent'; sha256?: string }): InspectionReport {
  const stated = opts.flags === 'stated';
  const flag = (belowGate: boolean) => (stated ? { belowGate } : {});
  const porosityMask = new Uint8Array(800 * 600);
  const polishMask = new Uint8Array(800 * 600);
  const paint = (m: Uint8Array, b: readonly number[]) => {
    for (let y = b[1]!; y < b[3]!; y++) m.fill(1, y * 800 + b[0]!, y * 800 + b[2]!);
  };
  paint(porosityMask, GATED.pore);
  paint(polishMask, GATED.scratch);
  paint(polishMask, GATED.haze);
  const rle = (m: Uint8Array) => ({ width: 800, height: 600, scaleToPhoto: 1, rle: encodeRle(m) });
  const base = fakeReport({ porous: true, verdict: 'review', ...(opts.sha256 ? { sha256: opts.sha256 } : {}) });
  return InspectionReportSchema.parse({
    ...base,
    families: {
      ...base.families,
      porosity: {
        ...base.families.porosity,
        verdict: 'review',
        findings: [{ kind: 'gas_void', bbox: [...GATED.pore], diameterMm: 0.28, areaMm2: 0.06, confidence: 0.9, cx: 115, cy: 114, elongation: 1.1, ...flag(false) }],
        mask: rle(porosityMask),
      },
      polish: {
        score: 0.8,
        verdict: 'review',
        findings: [
          { kind: 'scratch', bbox: [...GATED.scratch], lengthMm: 1.2, severity: 0.6, confidence: 0.8, ...flag(false) },
          { kind: 'haze', bbox: [...GATED.haze], areaMm2: 31.8, severity: 1, confidence: 0.55, ...flag(true) },
        ],
        kindScores: { scratch: 0.8, haze: 0.3, tool_mark: 0.1, orange_peel: 0.05 },
        ...(stated
          ? { kindGates: { scratch: gate, haze: { scoreThreshold: 0.6, source: 'model' }, tool_mark: gate, orange_peel: gate } }
          : {}),
        mask: rle(polishMask),
        gate,
      },
    },
  });
}
