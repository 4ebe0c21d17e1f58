import { worstVerdict, type PieceSummary, type Verdict } from '../../core/inspection.schema.js';
import type { InspectionReport } from '../../pipeline/report.schema.js';
import { withGateFlags } from '../../pipeline/score.js';

const FAMILY_LABEL = { porosity: 'porosity', stone_spacing: 'stone spacing', polish: 'polish' } as const;

/**
 * One verdict for the piece over its views: the worst view decides, and a view the profile requires but the upload
 * lacks makes the piece at least `review` (nobody has looked at that side).
 */
export function pieceVerdict(
  views: Array<{ view: string; report: InspectionReport }>,
  requiredViews: readonly string[],
): { verdict: Verdict; reasons: string[]; missingViews: string[] } {
  const present = new Set(views.map((v) => v.view));
  const missingViews = requiredViews.filter((v) => !present.has(v));
  const reasons: string[] = [];
  for (const { view, report } of views) {
    if (report.verdict === 'retake') {
      reasons.push(`${view}: retake the photo (${report.quality.reasons.map((r) => r.code).join(', ') || 'quality'})`);
    }
    for (const [family, result] of Object.entries(withGateFlags(report).families) as Array<[keyof typeof FAMILY_LABEL, { verdict: Verdict; findings: Array<{ belowGate?: boolean }> }]>) {
      const counted = result.findings.filter((f) => !f.belowGate).length;
      if (result.verdict !== 'pass') reasons.push(`${view}: ${FAMILY_LABEL[family]} ${result.verdict} (${counted} finding(s))`);
    }
  }
  for (const v of missingViews) reasons.push(`missing required view: ${v}`);
  const verdict = worstVerdict([...views.map((v) => v.report.verdict), ...(missingViews.length > 0 ? (['review'] as const) : [])]) ?? 'review';
  return { verdict, reasons, missingViews };
}

export function sumTimings(reports: InspectionReport[], extra: Record<string, number>): PieceSummary['timingsMs'] {
  const out: Record<string, number> = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.timingsMs)) out[k] = (out[k] ?? 0) + v;
  for (const [k, v] of Object.entries(extra)) out[k] = (out[k] ?? 0) + v;
  for (const k of Object.keys(out)) out[k] = Math.round(out[k]! * 10) / 10;
  return out;
}
