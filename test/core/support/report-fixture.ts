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
