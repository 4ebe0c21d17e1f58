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

export interface CalibrateGatesOptions {
  data: string[];
  modelsDir: string;
  /** `id@version`: the folder whose model.json is rewritten. */
  model: string;
  profile: string;
  maxFpr: number;
  log?: (line: string) => void;
}

interface Scored {
  score: number;
  positive: boolean;
}

/** Lowest threshold with at most floor(maxFpr x negatives) negatives at or above it (scores are 4-decimal). */
export function gateAtFpr(rows: Scored[], maxFpr: number): GateStat | null {
  const main = gateOnly(rows, maxFpr);
  if (!main) return null;
  const recallAtFpr: Record<string, number | null> = {};
  for (const f of TRADE_OFF_FPRS) {
    const g = gateOnly(rows, f);
    recallAtFpr[String(f)] = g && !Number.isNaN(g.recall) ? Math.round(g.recall * 1000) / 1000 : null;
  }
  return { ...main, recallAtFpr };
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

export async function calibrateGates(o: CalibrateGatesOptions): Promise<Record<string, GateStat>> {
  const log = o.log ?? (() => {});
  const scratch = await mkdtemp(join(tmpdir(), 'loupe-gates-'));
  const images: ImageOutcome[] = [];
  try {
    for (const [i, dir] of o.data.entries()) {
      log(`scoring ${dir} with ${o.model}`);
      const { images: got } = await runEvalWithImages({ data: dir, out: join(scratch, `${i}.json`), modelsDir: o.modelsDir, model: o.model, profile: o.profile });
      images.push(...got);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const stats: Record<string, GateStat> = {};
  const por = gateAtFpr(porosityRows(images), o.maxFpr);
  if (por) stats.porosity = por;
  for (const kind of POLISH_KINDS) {
    const s = gateAtFpr(polishRows(images, kind), o.maxFpr);
    if (s) stats[kind] = s;
  }

  const [id, version] = o.model.split('@');
  const path = join(o.modelsDir, id!, version!, 'model.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  const ops = manifest.operatingPoints;
  for (const [channel, s] of Object.entries(stats)) {
    const op = channel === 'porosity' ? ops.porosity : ops.polish?.[channel];
    if (op) op.imageThreshold = s.threshold;
  }
  ops.imageGates = {
    method: `imageThreshold per channel: the lowest report score at which at most ${o.maxFpr} of that channel's negative validation photos reach it (loupe calibrate-gates, through the pipeline: piece mask and evidence planes as in service)`,
    maxFpr: o.maxFpr,
    profile: o.profile,
    calibratedOn: o.data,
    photos: images.length,
    stats,
  };
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return stats;
}
