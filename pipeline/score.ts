import type { ModelManifest } from './model-manifest.schema.js';
import type { PorosityTolerance } from './profile.schema.js';
import type { FamilyName, FamilyVerdict, Gate, InspectionReport, PolishFinding, PolishKind, PorosityFinding, Verdict } from './report.schema.js';
import { polishLimits, polishSize } from './postprocess/polish.js';
import type { PolishTolerance } from './profile.schema.js';

/**
 * Verdicts from scores and mm. Two questions, two owners:
 *   - is there a defect at all? the family's score must reach its gate: the profile's score threshold if it sets one,
 *     else the model's calibrated `imageThreshold` (`modelImageThreshold`: photos shrunk a lot have their own);
 *   - is it acceptable? the profile's tolerances in mm (pore diameter and count, scratch length, patch area).
 * A score at or above its gate with no finding at all goes to `review`: the model is confident the defect is there
 * but could not outline it (typical of photos labelled per image only, e.g. a workshop's own casting photos), and
 * passing such a piece unseen is the costly mistake.
 * Overall: `retake` when the photo failed the quality gate, else the worst family verdict.
 */

const RANK: Record<FamilyVerdict, number> = { pass: 0, review: 1, fail: 2 };

export function worst(verdicts: FamilyVerdict[]): FamilyVerdict {
  return verdicts.reduce<FamilyVerdict>((w, v) => (RANK[v] > RANK[w] ? v : w), 'pass');
}

export function overallVerdict(qualityOk: boolean, families: FamilyVerdict[]): Verdict {
  return qualityOk ? worst(families) : 'retake';
}

/**
 * The model's gate for one channel (`porosity` or a polish kind) on a photo shrunk by `scaleToPhoto` to the working
 * scale: the downsampled photos' gate when the model has one for the channel and the photo was shrunk enough, else the
 * channel's `imageThreshold`.
 */
export function modelImageThreshold(ops: ModelManifest['operatingPoints'], channel: string, scaleToPhoto: number): number | undefined {
  const band = ops.downsampledGates;
  if (band && scaleToPhoto >= band.minScaleToPhoto) {
    const gate = channel === 'porosity' ? band.porosity : band.polish?.[channel];
    if (gate !== undefined) return gate;
  }
  return channel === 'porosity' ? ops.porosity?.imageThreshold : ops.polish?.[channel]?.imageThreshold;
}

export function gateFor(profileThreshold: number | undefined, modelThreshold: number | undefined): Gate {
  if (profileThreshold !== undefined) return { scoreThreshold: profileThreshold, source: 'profile' };
  if (modelThreshold !== undefined) return { scoreThreshold: modelThreshold, source: 'model' };
  return { scoreThreshold: 0, source: 'none' };
}

/** Whether a family's (a polish kind's) findings count at all: the one test every verdict and `belowGate` flag uses. */
export function reachesGate(score: number, gate: Gate): boolean {
  return score >= gate.scoreThreshold;
}

/** The findings with `belowGate` stated, all alike: a family's (a polish kind's) findings count together or not at all. */
export function markGate<T extends { belowGate?: boolean }>(findings: readonly T[], score: number, gate: Gate): T[] {
  const belowGate = !reachesGate(score, gate);
  return findings.map((f) => ({ ...f, belowGate }));
}

/**
 * The report with every finding's `belowGate` stated. Reports made before the flag existed lack it; it is derived
 * from what they stored: scores rounded to 4 digits (a score within 5e-5 under its gate may read as reaching it),
 * and, without `kindGates`, a polish kind against the family's gate, the lowest of the kinds' gates: where the kinds'
 * gates differed, such a finding may read as counted when it was not (never the reverse). Flags already there are kept.
 */
export function withGateFlags(report: InspectionReport): InspectionReport {
  const fams = report.families;
  const { porosity, stone_spacing: spacing, polish } = fams;
  if ([porosity.findings, spacing.findings, polish.findings].every((fs) => fs.every((f) => f.belowGate !== undefined))) return report;
  const flag = <T extends { kind: string; belowGate?: boolean }>(family: FamilyName, f: T): T => {
    if (f.belowGate !== undefined) return f;
    const { score, gate } = scoreAndGate(fams, family, f.kind);
    return { ...f, belowGate: !reachesGate(score, gate) };
  };
  return {
    ...report,
    families: {
      porosity: { ...porosity, findings: porosity.findings.map((f) => flag('porosity', f)) },
      stone_spacing: { ...spacing, findings: spacing.findings.map((f) => flag('stone_spacing', f)) },
      polish: { ...polish, findings: polish.findings.map((f) => flag('polish', f)) },
    },
  };
}

/**
 * The score a finding's family (for polish, its kind) reached and the gate it was held to, as the report stored them
 * (polish without `kindGates`: the family's gate, the lowest of the kinds').
 */
export function scoreAndGate(families: InspectionReport['families'], family: FamilyName, kind: string): { score: number; gate: Gate } {
  if (family === 'polish') {
    const p = families.polish;
    return { score: p.kindScores[kind] ?? p.score, gate: p.kindGates?.[kind] ?? p.gate };
  }
  return { score: families[family].score, gate: families[family].gate };
}

/**
 * `imageOnly`: the model's pixel regions are not calibrated (`pixelCalibrated: false`), so a score at the gate is
 * at least `review`: region sizes that were never fitted to pixel truth cannot pass a piece the image score flags.
 */
export function judgePorosity(score: number, gate: Gate, findings: PorosityFinding[], t: PorosityTolerance, imageOnly = false): FamilyVerdict {
  if (!reachesGate(score, gate)) return 'pass';
  if (findings.length === 0 && gate.source !== 'none') return 'review';
  const counted = findings.filter((f) => f.diameterMm >= t.countMinDiameterMm).length;
  if (findings.some((f) => f.diameterMm >= t.failDiameterMm) || counted >= t.failCount) return 'fail';
  if (findings.some((f) => f.diameterMm >= t.reviewDiameterMm)) return 'review';
  return imageOnly && gate.source !== 'none' ? 'review' : 'pass';
}

/** Per kind: the kind's findings count only when the kind's score reaches its gate. */
export function judgePolish(
  kinds: Array<{ kind: PolishKind; score: number; gate: Gate; findings: PolishFinding[] }>,
  t: PolishTolerance,
): FamilyVerdict {
  const verdicts = kinds.map(({ kind, score, gate, findings: all }): FamilyVerdict => {
    if (!reachesGate(score, gate)) return 'pass';
    // Behind a verifier a kind can reach its gate while some of its regions stay unconfirmed: those do not count.
    const findings = all.filter((f) => !f.belowGate);
    if (findings.length === 0 && gate.source !== 'none') return 'review';
    const limits = polishLimits(kind, t);
    if (findings.some((f) => polishSize(f) >= limits.fail)) return 'fail';
    // A place the verifier confirmed where the seg map drew no region has no size: a person measures it.
    if (findings.some((f) => polishSize(f) >= limits.review || (f.lengthMm === undefined && f.areaMm2 === undefined))) return 'review';
    return 'pass';
  });
  return worst(verdicts);
}

/** Spacing is judged in mm by `analyseSpacing`; a profile score threshold can only hold a low score back to pass. */
export function gateSpacing(verdict: FamilyVerdict, score: number, gate: Gate): FamilyVerdict {
  return reachesGate(score, gate) ? verdict : 'pass';
}
