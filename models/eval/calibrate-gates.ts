import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POLISH_KINDS } from '../../pipeline/report.schema.js';
import { runEvalWithImages, type ImageOutcome } from './run-eval.js';

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
  const images: ImageOutcome[] = o.scored ? [...o.scored] : await scoreFolders(o.data, o.modelsDir, o.model, o.profile, log);

  const objective = o.objective ?? 'fpr';
  if (objective === 'fpr' && o.maxFpr === undefined) throw new Error('calibrateGates: the fpr objective needs maxFpr');
  const gate = (rows: Scored[]) => (objective === 'balanced' ? gateBalanced(rows) : gateAtFpr(rows, o.maxFpr!));
  const stats: Record<string, GateStat> = {};
  const por = gate(porosityRows(images));
  if (por) stats.porosity = por;
  let family: PolishFamilyBound | null = null;
  if (objective === 'fpr' && o.polishFamilyMaxFpr !== undefined) {
    family = polishFamilyBound(images, o.maxFpr!, o.polishFamilyMaxFpr);
    Object.assign(stats, family.stats);
    log(`polish family: kinds at FPR ${family.perKindFpr} each; any kind flags ${family.falsePositiveRate.toFixed(3)} of ${family.negatives} polish-clean photos and catches ${family.recall.toFixed(3)} of ${family.positives} polish photos`);
  } else {
    for (const kind of POLISH_KINDS) {
      const s = gate(polishRows(images, kind));
      if (s) stats[kind] = s;
    }
  }

  const [id, version] = o.model.split('@');
  const path = join(o.modelsDir, id!, version!, 'model.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  const ops = manifest.operatingPoints;
  for (const [channel, s] of Object.entries(stats)) {
    const op = channel === 'porosity' ? ops.porosity : ops.polish?.[channel];
    if (op) op.imageThreshold = s.threshold;
  }
  const rule =
    objective === 'balanced'
      ? "the report score maximising balanced accuracy on that channel's validation photos (middle of the widest run of best cut points; channels without positives and negatives keep their gate)"
      : `the lowest report score at which at most ${o.maxFpr} of that channel's negative validation photos reach it` +
        (family ? `; polish kinds at a common rate of ${family.perKindFpr}, the largest at which at most ${o.polishFamilyMaxFpr} of polish-clean photos reach any polish kind's gate` : '');
  ops.imageGates = {
    method: `imageThreshold per channel: ${rule} (loupe calibrate-gates, through the pipeline: piece mask, evidence planes and the profile's test-time augmentation as in service)`,
    objective,
    ...(objective === 'fpr' ? { maxFpr: o.maxFpr } : {}),
    ...(family ? { polishFamily: { maxFpr: o.polishFamilyMaxFpr, perKindFpr: family.perKindFpr, falsePositiveRate: family.falsePositiveRate, recall: family.recall, negatives: family.negatives, positives: family.positives } } : {}),
    profile: o.profile,
    calibratedOn: o.data,
    ...(o.scoredBy ? { scoredBy: o.scoredBy } : {}),
    photos: images.length,
    stats,
  };
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return stats;
}
