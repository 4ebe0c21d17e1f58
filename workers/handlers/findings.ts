import type { NewFinding } from '../../core/store/inspections-dal.js';
import type { InspectionReport } from '../../pipeline/report.schema.js';
import { withGateFlags } from '../../pipeline/score.js';

/**
 * One row per finding that counted, with the measurement trend queries filter on in its own column (`size_mm`: a
 * pore's equivalent diameter, a spacing defect's deviation from nominal (else its gap), a scratch's length) and the
 * rest of the finding kept whole in `measurements`. Findings below their gate (`belowGate`) get no row: the model
 * itself discounted them, so they are not the inspection's findings for review decisions, queue counts or the trend
 * reports (`inspection_fact_findings` is derived from these rows). They stay in the stored report, where the review
 * page lists them for an inspector to add as missed.
 */
export function findingsOf(viewN: number, report: InspectionReport): NewFinding[] {
  const f = withGateFlags(report).families;
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
  ];
}
