import type { PorosityTolerance } from './profile.schema.js';
import type { FamilyVerdict, Gate, PolishFinding, PolishKind, PorosityFinding, Verdict } from './report.schema.js';
import { polishLimits, polishSize } from './postprocess/polish.js';
import type { PolishTolerance } from './profile.schema.js';

/**
 * Verdicts from scores and mm. Two questions, two owners:
 *   - is there a defect at all? the family's score must reach its gate: the profile's score threshold if it sets one,
 *     else the model's calibrated `imageThreshold`;
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

export function gateFor(profileThreshold: number | undefined, modelThreshold: number | undefined): Gate {
  if (profileThreshold !== undefined) return { scoreThreshold: profileThreshold, source: 'profile' };
  if (modelThreshold !== undefined) return { scoreThreshold: modelThreshold, source: 'model' };
  return { scoreThreshold: 0, source: 'none' };
}

export function judgePorosity(score: number, gate: Gate, findings: PorosityFinding[], t: PorosityTolerance): FamilyVerdict {
  if (score < gate.scoreThreshold) return 'pass';
  if (findings.length === 0 && gate.source !== 'none') return 'review';
  const counted = findings.filter((f) => f.diameterMm >= t.countMinDiameterMm).length;
  if (findings.some((f) => f.diameterMm >= t.failDiameterMm) || counted >= t.failCount) return 'fail';
  if (findings.some((f) => f.diameterMm >= t.reviewDiameterMm)) return 'review';
  return 'pass';
}

/** Per kind: the kind's findings count only when the kind's score reaches its gate. */
export function judgePolish(
  kinds: Array<{ kind: PolishKind; score: number; gate: Gate; findings: PolishFinding[] }>,
  t: PolishTolerance,
): FamilyVerdict {
  const verdicts = kinds.map(({ kind, score, gate, findings }): FamilyVerdict => {
    if (score < gate.scoreThreshold) return 'pass';
    if (findings.length === 0 && gate.source !== 'none') return 'review';
    const limits = polishLimits(kind, t);
    if (findings.some((f) => polishSize(f) >= limits.fail)) return 'fail';
    if (findings.some((f) => polishSize(f) >= limits.review)) return 'review';
    return 'pass';
  });
  return worst(verdicts);
}

/** Spacing is judged in mm by `analyseSpacing`; a profile score threshold can only hold a low score back to pass. */
export function gateSpacing(verdict: FamilyVerdict, score: number, gate: Gate): FamilyVerdict {
  return score < gate.scoreThreshold ? 'pass' : verdict;
}
