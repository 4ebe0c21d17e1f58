import type { NewFinding } from '../../core/store/inspections-dal.js';
import type { InspectionReport } from '../../pipeline/report.schema.js';

/**
 * One row per finding, with the measurement trend queries filter on in its own column (`size_mm`: a pore's
 * equivalent diameter, a spacing defect's deviation from nominal (else its gap), a scratch's length) and the rest
 * of the finding kept whole in `measurements`.
 */
export function findingsOf(viewN: number, report: InspectionReport): NewFinding[] {
  const f = report.families;
  return [
    ...f.porosity.findings.map((p) => {
      const { kind, bbox, diameterMm, areaMm2, confidence, ...rest } = p;
      return { viewN, family: 'porosity', kind, severity: null, confidence, sizeMm: diameterMm, areaMm2, bbox, measurements: rest };
    }),
    ...f.stone_spacing.findings.map((s) => {
      const { kind, bbox, severity, ...rest } = s;
      return { viewN, family: 'stone_spacing', kind, severity, confidence: null, sizeMm: s.deviationMm ?? s.gapMm ?? null, areaMm2: null, bbox, measurements: rest };
    }),
    ...f.polish.findings.map((p) => {
      const { kind, bbox, severity, confidence, lengthMm, areaMm2, ...rest } = p;
      return { viewN, family: 'polish', kind, severity, confidence, sizeMm: lengthMm ?? null, areaMm2: areaMm2 ?? null, bbox, measurements: rest };
    }),
  ];
}
