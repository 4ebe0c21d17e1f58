import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POLISH_KINDS } from '../../pipeline/report.schema.js';
import type { PolishCalibration } from '../../pipeline/model-manifest.schema.js';
import { fitPolishCalibration } from './polish-calibration.js';
import { isClean, runEvalWithImages, type ImageOutcome } from './run-eval.js';

/**
 * Image gates (operatingPoints.*.imageThreshold) set through the pipeline itself, on validation photos never trained
 * on: the lowest score threshold whose false-positive rate on that channel's negatives is at most `maxFpr`.
 *
 * Why not train.py's F1-optimal thresholds: F1 on a validation set with few positives per polish kind puts each gate
 * low, and five gates each passing a few clean photos flagged 87 % of clean pieces on the dev set. The product's
 * promise is a bounded false-alarm rate per channel; recall at that rate is what the model card then reports.
 * Scores come from the reports, so the piece mask and the evidence planes count exactly as in service.
 */

export interface GateStat {
  threshold: number;
  positives: number;
  negatives: number;
  falsePositiveRate: number;
  recall: number;
  /** Recall had the gate been set at these false-positive rates: the trade-off the chosen rate sits on. */
  recallAtFpr: Record<string, number | null>;
}

const TRADE_OFF_FPRS = [0.01, 0.02, 0.05, 0.1, 0.2];

export type GateObjective = 'fpr' | 'balanced';

export interface CalibrateGatesOptions {
  data: string[];
  modelsDir: string;
  /** `id@version`: the folder whose model.json is rewritten. */
  model: string;
  profile: string;
  /** `fpr` (default): the lowest gate within `maxFpr`. `balanced`: the gate maximising balanced accuracy, for a
   * workshop's own pass/fail photos; channels without both positives and negatives keep their gate. */
  objective?: GateObjective;
  /** Required for `fpr`. */
  maxFpr?: number;
  /**
   * `fpr` only: also bound the polish family as a whole: the share of polish-clean photos that any polish kind flags.
   * Each kind's gate is then set at one common per-kind rate, the largest (at most `maxFpr`) whose union stays within
   * this. Per-kind bounds alone add up: four kinds at 5 % each flagged 19 % of clean pieces once their false alarms
   * stopped coinciding (loupe-seg 1.2.0's verifier).
   */
  polishFamilyMaxFpr?: number;
  /**
   * `fpr` only: also bound the share of clean pieces (jewelry photos clean in every family that passed the quality gate)
   * flagged by any family: porosity, any polish kind, or stone spacing, whose mm rule no gate here moves. `maxFpr` and
   * `polishFamilyMaxFpr` are then scaled down together, by the largest factor (a 1/40 grid) whose union stays within
   * this. The families' bounds alone add up: porosity and polish at 5 % each plus spacing's measurement misses flagged
   * 8 % of clean in-distribution pieces (loupe-seg 1.12.0).
   */
  pieceMaxFpr?: number;
  /**
   * Set the gates of photos shrunk at least this much to the working scale (`DownsampledGatesSchema`) from the photos of
   * `data` that were, leaving the main gates as they are: `data` is then a validation set at the camera's resolution.
   */
  downsampled?: number;
  /** Also fit the polish kinds' common scale for the family's score (`PolishCalibrationSchema`) on the same photos. */
  polishCalibration?: boolean;
  /**
   * Photos already scored through the pipeline, used instead of scoring `data` with `model`: `loupe train --folds`
   * passes each training photo as scored by the member that never saw it. `data` then only names where they came from.
   */
  scored?: ImageOutcome[];
  /** What the gates were set on, in words, for model.json (default: the folders and `model`). */
  scoredBy?: string;
  log?: (line: string) => void;
}

interface Scored {
  score: number;
  positive: boolean;
}

/** Lowest threshold with at most floor(maxFpr x negatives) negatives at or above it (scores are 4-decimal). */
export function gateAtFpr(rows: Scored[], maxFpr: number): GateStat | null {
  const main = gateOnly(rows, maxFpr);
  return main ? { ...main, recallAtFpr: recallAtFprs(rows) } : null;
}

/** Recall had the gate been set at each of TRADE_OFF_FPRS. */
function recallAtFprs(rows: Scored[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const f of TRADE_OFF_FPRS) {
    const g = gateOnly(rows, f);
    out[String(f)] = g && !Number.isNaN(g.recall) ? Math.round(g.recall * 1000) / 1000 : null;
  }
  return out;
}

function gateOnly(rows: Scored[], maxFpr: number): Omit<GateStat, 'recallAtFpr'> | null {
  const neg = rows.filter((r) => !r.positive).map((r) => r.score).sort((a, b) => b - a);
  const pos = rows.filter((r) => r.positive).map((r) => r.score);
  if (neg.length === 0) return null;
  const allowed = Math.floor(maxFpr * neg.length);
  const threshold = allowed >= neg.length ? 0 : Math.min(1, Math.round((neg[allowed]! + 1e-4) * 1e4) / 1e4);
  const fp = neg.filter((s) => s >= threshold).length;
  const tp = pos.filter((s) => s >= threshold).length;
  return {
    threshold,
    positives: pos.length,
    negatives: neg.length,
    falsePositiveRate: fp / neg.length,
    recall: pos.length ? tp / pos.length : Number.NaN,
  };
}

/**
 * The gate maximising balanced accuracy (mean of recall and specificity: it does not move with the validation
 * split's defect rate), placed in the middle of the widest run of equally good cut points between neighbouring
 * scores rather than on one photo's score. Null without both positives and negatives.
 */
export function gateBalanced(rows: Scored[]): GateStat | null {
  const pos = rows.filter((r) => r.positive).map((r) => r.score);
  const neg = rows.filter((r) => !r.positive).map((r) => r.score);
  if (pos.length === 0 || neg.length === 0) return null;
  const u = [...new Set(rows.map((r) => r.score))].sort((a, b) => a - b);
  const cuts = [u[0]! - 1e-4, ...u.slice(1).map((v, i) => (u[i]! + v) / 2), u[u.length - 1]! + 1e-4];
  const balanced = cuts.map((c) => (pos.filter((s) => s >= c).length / pos.length + neg.filter((s) => s < c).length / neg.length) / 2);
  const best = Math.max(...balanced);
  let run = { from: -1, length: 0 };
  for (let i = 0; i < cuts.length; ) {
    if (balanced[i]! < best - 1e-12) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < cuts.length && balanced[j + 1]! >= best - 1e-12) j++;
    if (j - i + 1 > run.length) run = { from: i, length: j - i + 1 };
    i = j + 1;
  }
  const threshold = Math.round(cuts[run.from + Math.floor(run.length / 2)]! * 1e6) / 1e6;
  return {
    threshold,
    positives: pos.length,
    negatives: neg.length,
    falsePositiveRate: neg.filter((s) => s >= threshold).length / neg.length,
    recall: pos.filter((s) => s >= threshold).length / pos.length,
    recallAtFpr: recallAtFprs(rows),
  };
}

function porosityRows(images: ImageOutcome[]): Scored[] {
  return images.map((o) => ({ score: o.report.families.porosity.score, positive: o.entry.labels.porosity }));
}

/** A photo is a negative for a kind when polish is labelled clean or its per-kind masks omit the kind. */
function polishRows(images: ImageOutcome[], kind: string): Scored[] {
  const rows: Scored[] = [];
  for (const o of images) {
    const has = (o.entry.defects ?? []).some((d) => d.kind === kind);
    const kindMasks = (o.entry as { kindMasks?: Record<string, unknown> }).kindMasks;
    const knownAbsent = !o.entry.labels.polish || (kindMasks !== undefined && !(kind in kindMasks));
    if (!has && !knownAbsent) continue;
    rows.push({ score: o.report.families.polish.kindScores[kind] ?? 0, positive: has });
  }
  return rows;
}

interface PolishFamilyBound {
  perKindFpr: number;
  stats: Record<string, GateStat>;
  /** Share of polish-clean photos flagged by any kind, and of polish photos caught by any kind. */
  falsePositiveRate: number;
  recall: number;
  negatives: number;
  positives: number;
}

/** The largest common per-kind rate (a 0.0025 grid up to `maxFpr`) whose union over the kinds stays within `familyMaxFpr`. */
export function polishFamilyBound(images: ImageOutcome[], maxFpr: number, familyMaxFpr: number): PolishFamilyBound {
  const rows = Object.fromEntries(POLISH_KINDS.map((k) => [k, polishRows(images, k)]));
  const clean = images.filter((o) => !o.entry.labels.polish);
  const dirty = images.filter((o) => o.entry.labels.polish);
  const union = (gates: Record<string, GateStat>, set: ImageOutcome[]) =>
    set.filter((o) => POLISH_KINDS.some((k) => gates[k] !== undefined && (o.report.families.polish.kindScores[k] ?? 0) >= gates[k]!.threshold)).length;
  let best: PolishFamilyBound | null = null;
  for (let f = 0; f <= maxFpr + 1e-9; f += 0.0025) {
    const stats: Record<string, GateStat> = {};
    for (const k of POLISH_KINDS) {
      const s = gateAtFpr(rows[k]!, f);
      if (s) stats[k] = s;
    }
    const fpr = clean.length ? union(stats, clean) / clean.length : 0;
    if (fpr > familyMaxFpr && best) break;
    best = { perKindFpr: Math.round(f * 10000) / 10000, stats, falsePositiveRate: fpr, recall: dirty.length ? union(stats, dirty) / dirty.length : Number.NaN, negatives: clean.length, positives: dirty.length };
    if (fpr > familyMaxFpr) break;
  }
  return best!;
}

interface PieceBound {
  /** The factor `maxFpr` and `polishFamilyMaxFpr` were scaled by. */
  scale: number;
  stats: Record<string, GateStat>;
  polish: PolishFamilyBound | null;
  /** Clean pieces (clean in every family, passed the quality gate), the share any family flags, and spacing's share. */
  negatives: number;
  falsePositiveRate: number;
  spacingFalsePositiveRate: number;
}

const PIECE_SCALE_STEPS = 40;

/** A jewelry photo with no defect of any family that the quality gate let through: what a clean-piece false alarm is counted on. */
function isCleanPiece(o: ImageOutcome): boolean {
  return o.entry.piece !== null && isClean(o.entry) && o.report.verdict !== 'retake';
}

/** Per-channel gates at `maxFpr` (polish within `polishFamilyMaxFpr` when given). */
function channelGates(images: ImageOutcome[], maxFpr: number, polishFamilyMaxFpr: number | undefined): { stats: Record<string, GateStat>; polish: PolishFamilyBound | null } {
  const stats: Record<string, GateStat> = {};
  const por = gateAtFpr(porosityRows(images), maxFpr);
  if (por) stats.porosity = por;
  if (polishFamilyMaxFpr !== undefined) {
    const polish = polishFamilyBound(images, maxFpr, polishFamilyMaxFpr);
    return { stats: { ...stats, ...polish.stats }, polish };
  }
  for (const kind of POLISH_KINDS) {
    const s = gateAtFpr(polishRows(images, kind), maxFpr);
    if (s) stats[kind] = s;
  }
  return { stats, polish: null };
}

/**
 * The channel gates scaled down together until at most `pieceMaxFpr` of clean pieces are flagged by any family. When
 * spacing alone flags more, every gate ends above its highest negative (scale 0) and the bound is not met; the caller
 * reads that from `falsePositiveRate`.
 */
export function pieceBound(images: ImageOutcome[], maxFpr: number, polishFamilyMaxFpr: number | undefined, pieceMaxFpr: number): PieceBound {
  const pieces = images.filter(isCleanPiece);
  const reaches = (o: ImageOutcome, stats: Record<string, GateStat>) =>
    (stats.porosity !== undefined && o.report.families.porosity.score >= stats.porosity.threshold) ||
    POLISH_KINDS.some((k) => stats[k] !== undefined && (o.report.families.polish.kindScores[k] ?? 0) >= stats[k]!.threshold);
  const spacing = pieces.filter((o) => o.flagged.stone_spacing).length;
  let bound: PieceBound | null = null;
  for (let step = PIECE_SCALE_STEPS; step >= 0; step--) {
    const scale = step / PIECE_SCALE_STEPS;
    const gates = channelGates(images, maxFpr * scale, polishFamilyMaxFpr === undefined ? undefined : polishFamilyMaxFpr * scale);
    const flagged = pieces.filter((o) => o.flagged.stone_spacing || reaches(o, gates.stats)).length;
    const rate = pieces.length ? flagged / pieces.length : 0;
    bound = { scale, ...gates, negatives: pieces.length, falsePositiveRate: rate, spacingFalsePositiveRate: pieces.length ? spacing / pieces.length : 0 };
    if (rate <= pieceMaxFpr) break;
  }
  return bound!;
}

async function scoreFolders(data: string[], modelsDir: string, model: string, profile: string, log: (line: string) => void): Promise<ImageOutcome[]> {
  const scratch = await mkdtemp(join(tmpdir(), 'loupe-gates-'));
  const images: ImageOutcome[] = [];
  try {
    for (const [i, dir] of data.entries()) {
      log(`scoring ${dir} with ${model}`);
      const { images: got } = await runEvalWithImages({ data: dir, out: join(scratch, `${i}.json`), modelsDir, model, profile });
      images.push(...got);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return images;
}

export async function calibrateGates(o: CalibrateGatesOptions): Promise<Record<string, GateStat>> {
  const log = o.log ?? (() => {});
  const scored: ImageOutcome[] = o.scored ? [...o.scored] : await scoreFolders(o.data, o.modelsDir, o.model, o.profile, log);
  const minScale = o.downsampled;
  if (minScale !== undefined && o.polishCalibration) throw new Error('calibrateGates: the polish calibration is fitted on all photos, not with downsampled');
  const images = minScale === undefined ? scored : scored.filter((im) => im.report.working.scaleToPhoto >= minScale);
  if (images.length === 0) throw new Error(`calibrateGates: no photo of ${o.data.join(', ')} was shrunk ${minScale}x or more to the working scale`);

  const objective = o.objective ?? 'fpr';
  if (objective === 'fpr' && o.maxFpr === undefined) throw new Error('calibrateGates: the fpr objective needs maxFpr');
  if (objective !== 'fpr' && o.pieceMaxFpr !== undefined) throw new Error('calibrateGates: pieceMaxFpr needs the fpr objective');
  let stats: Record<string, GateStat> = {};
  let family: PolishFamilyBound | null = null;
  let piece: PieceBound | null = null;
  if (objective === 'balanced') {
    const por = gateBalanced(porosityRows(images));
    if (por) stats.porosity = por;
    for (const kind of POLISH_KINDS) {
      const s = gateBalanced(polishRows(images, kind));
      if (s) stats[kind] = s;
    }
  } else if (o.pieceMaxFpr !== undefined) {
    piece = pieceBound(images, o.maxFpr!, o.polishFamilyMaxFpr, o.pieceMaxFpr);
    ({ stats, polish: family } = piece);
    log(`clean pieces: channels at ${piece.scale} of their rates; any family flags ${piece.falsePositiveRate.toFixed(3)} of ${piece.negatives} (spacing alone ${piece.spacingFalsePositiveRate.toFixed(3)})${piece.falsePositiveRate > o.pieceMaxFpr ? `: ABOVE the bound ${o.pieceMaxFpr} even with every gate above its highest negative` : ''}`);
  } else {
    ({ stats, polish: family } = channelGates(images, o.maxFpr!, o.polishFamilyMaxFpr));
  }
  if (family) log(`polish family: kinds at FPR ${family.perKindFpr} each; any kind flags ${family.falsePositiveRate.toFixed(3)} of ${family.negatives} polish-clean photos and catches ${family.recall.toFixed(3)} of ${family.positives} polish photos`);

  const [id, version] = o.model.split('@');
  const path = join(o.modelsDir, id!, version!, 'model.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  const ops = manifest.operatingPoints;
  if (minScale === undefined) {
    for (const [channel, s] of Object.entries(stats)) {
      const op = channel === 'porosity' ? ops.porosity : ops.polish?.[channel];
      if (op) op.imageThreshold = s.threshold;
    }
  }
  const rule =
    objective === 'balanced'
      ? "the report score maximising balanced accuracy on that channel's validation photos (middle of the widest run of best cut points; channels without positives and negatives keep their gate)"
      : `the lowest report score at which at most ${o.maxFpr} of that channel's negative validation photos reach it` +
        (family ? `; polish kinds at a common rate of ${family.perKindFpr}, the largest at which at most ${o.polishFamilyMaxFpr} of polish-clean photos reach any polish kind's gate` : '') +
        (piece ? `; both bounds scaled by ${piece.scale}, the largest factor at which at most ${o.pieceMaxFpr} of clean pieces are flagged by any family (spacing's mm rule included)` : '');
  if (o.polishCalibration) {
    ops.polishCalibration = fitPolishCalibration(images, o.data);
    const fits = Object.entries(ops.polishCalibration.kinds as PolishCalibration['kinds']);
    log(`polish calibration: ${fits.map(([k, f]) => `${k} ${f.slope.toFixed(3)} x logit ${f.intercept >= 0 ? '+' : '-'} ${Math.abs(f.intercept).toFixed(3)} (${f.positives} vs ${f.negatives})`).join('; ')}`);
  }
  const record = {
    method: `imageThreshold per channel: ${rule} (loupe calibrate-gates, through the pipeline: piece mask, evidence planes and the profile's test-time augmentation as in service)`,
    objective,
    ...(objective === 'fpr' ? { maxFpr: o.maxFpr } : {}),
    ...(piece ? { cleanPieces: { maxFpr: o.pieceMaxFpr, scale: piece.scale, falsePositiveRate: piece.falsePositiveRate, spacingFalsePositiveRate: piece.spacingFalsePositiveRate, negatives: piece.negatives } } : {}),
    ...(family ? { polishFamily: { maxFpr: o.polishFamilyMaxFpr, perKindFpr: family.perKindFpr, falsePositiveRate: family.falsePositiveRate, recall: family.recall, negatives: family.negatives, positives: family.positives } } : {}),
    profile: o.profile,
    calibratedOn: o.data,
    ...(o.scoredBy ? { scoredBy: o.scoredBy } : {}),
    photos: images.length,
    stats,
  };
  if (minScale === undefined) ops.imageGates = record;
  else {
    const only = (channel: string) => (stats[channel] ? stats[channel].threshold : undefined);
    ops.downsampledGates = {
      ...record,
      minScaleToPhoto: minScale,
      ...(only('porosity') !== undefined ? { porosity: only('porosity') } : {}),
      polish: Object.fromEntries(POLISH_KINDS.filter((k) => only(k) !== undefined).map((k) => [k, only(k)])),
      method: `photos shrunk ${minScale}x or more to the working scale (${images.length} of ${scored.length}): ${record.method}`,
    };
  }
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return stats;
}
