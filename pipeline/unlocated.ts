import type { BBox, InspectionReport } from './report.schema.js';
import { reachesGate, scoreAndGate } from './score.js';

/**
 * Flags with nothing outlined: porosity, or a polish kind, whose image score reached its gate while no finding of it
 * counted. A model fine-tuned on photos labelled per image only (a workshop's pass/fail folders) raises these: it
 * learned "is there a defect in this photo", never where. Each becomes a finding row (`workers/handlers/findings.ts`)
 * so the piece is counted, queued and filtered under its family and the inspector confirms or rejects the flag itself.
 */
export interface UnlocatedFlag {
  family: 'porosity' | 'polish';
  /** The polish kind; `casting_defect` for porosity (the manifest's kind for "defective somewhere in this photo"). */
  kind: string;
  score: number;
  gate: number;
  /** Where the score was read, photo pixels. */
  cx: number;
  cy: number;
  /** A square to look at there: 4 % of the photo's long side, at least 64 px. */
  bbox: BBox;
}

/** The manifest's image-level porosity kind, given to a porosity flag with no pore outlined. */
export const UNLOCATED_POROSITY_KIND = 'casting_defect';

export function unlocatedFlags(report: InspectionReport): UnlocatedFlag[] {
  const f = report.families;
  const half = Math.max(32, 0.02 * Math.max(report.photo.width, report.photo.height));
  const flag = (family: UnlocatedFlag['family'], kind: string, at: { cx: number; cy: number }, score: number, gate: number): UnlocatedFlag => ({
    family,
    kind,
    score,
    gate,
    cx: at.cx,
    cy: at.cy,
    bbox: [at.cx - half, at.cy - half, at.cx + half, at.cy + half],
  });
  const out: UnlocatedFlag[] = [];
  const por = f.porosity;
  if (por.scoreAt && reachesGate(por.score, por.gate) && !por.findings.some((p) => !p.belowGate)) {
    out.push(flag('porosity', UNLOCATED_POROSITY_KIND, por.scoreAt, por.score, por.gate.scoreThreshold));
  }
  for (const [kind, at] of Object.entries(f.polish.kindScoresAt ?? {})) {
    const { score, gate } = scoreAndGate(f, 'polish', kind);
    if (at && reachesGate(score, gate) && !f.polish.findings.some((p) => p.kind === kind && !p.belowGate)) out.push(flag('polish', kind, at, score, gate.scoreThreshold));
  }
  return out;
}
