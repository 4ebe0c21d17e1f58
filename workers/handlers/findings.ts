import type { NewFinding } from '../../core/store/inspections-dal.js';
import type { InspectionReport } from '../../pipeline/report.schema.js';
import { withGateFlags } from '../../pipeline/score.js';
import { unlocatedFlags } from '../../pipeline/unlocated.js';

/**
 * One row per finding that counted, with the measurement trend queries filter on in its own column (`size_mm`: a
 * pore's equivalent diameter, a spacing defect's deviation from nominal (else its gap), a scratch's length) and the
 * rest of the finding kept whole in `measurements`. Findings below their gate (`belowGate`) get no row: the model
 * itself discounted them, so they are not the inspection's findings for review decisions, queue counts or the trend
 * reports (`inspection_fact_findings` is derived from these rows). They stay in the stored report, where the review
 * page lists them for an inspector to add as missed. A flag with nothing outlined (`pipeline/unlocated.ts`) gets a row.
 */
export function findingsOf(viewN: number, report: InspectionReport): NewFinding[] {
  const gated = withGateFlags(report);
  const f = gated.families;
  return [
    ...f.porosity.findings.filter((p) => !p.belowGate).map((p) => {
      const { kind, bbox, diameterMm, areaMm2, confidence, belowGate: _belowGate, ...rest } = p;
      return { viewN, family: 'porosity', kind, severity: null, confidence, sizeMm: diameterMm, areaMm2, bbox, measurements: rest };
    }),
    ...f.stone_spacing.findings.filter((s) => !s.belowGate).map((s) => {
      const { kind, bbox, severity, belowGate: _belowGate, ...rest } = s;
      return { viewN, family: 'stone_spacing', kind, severity, confidence: null, sizeMm: s.deviationMm ?? s.gapMm ?? null, areaMm2: null, bbox, measurements: rest };
    }),
    ...f.polish.findings.filter((p) => !p.belowGate).map((p) => {
      const { kind, bbox, severity, confidence, lengthMm, areaMm2, belowGate: _belowGate, ...rest } = p;
      return { viewN, family: 'polish', kind, severity, confidence, sizeMm: lengthMm ?? null, areaMm2: areaMm2 ?? null, bbox, measurements: rest };
    }),
    // A flag with nothing outlined is the inspection's finding too: its family counts in the queue and the trends, and
    // the inspector confirms or rejects the flag. Its box is only where to look: no size, and no mask on export.
    ...unlocatedFlags(gated).map((u) => ({
      viewN,
      family: u.family,
      kind: u.kind,
      severity: null,
      confidence: u.score,
      sizeMm: null,
      areaMm2: null,
      bbox: u.bbox,
      measurements: { unlocated: true, score: u.score, gate: u.gate, cx: u.cx, cy: u.cy },
    })),
  ];
}
