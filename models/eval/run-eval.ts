import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_WORKER_WARMUP_RUNS } from '../../core/config.schema.js';
import { loadManifest } from '../../datasets/manifest-io.js';
import type { Defect, ManifestEntry } from '../../datasets/manifest.schema.js';
import { createModelRegistry, inspect, loadProfiles, POLISH_KINDS, type InspectionReport, type PipelineMaps, type PolishKind, type Profile } from '../../pipeline/index.js';
import { gateFor } from '../../pipeline/score.js';
import { warmUpPipeline } from '../../pipeline/warm-up-pipeline.js';
import { warmUpPhotos } from '../../workers/warm-up-photos.js';
import { canMeasureVisibility, defectVisibility } from '../../datasets/synth/visibility.js';
import { EvalResultSchema, type EvalResult } from './eval-result.schema.js';
import { aurocOf, classificationMetrics, gapErrorsMm, matchStones, mean, PooledPixelAuroc } from './metrics.js';

export interface EvalOptions {
  data: string;
  out: string;
  modelsDir: string;
  /** `id` or `id@version`; default: every active model. */
  model?: string;
  profile: string;
  limit?: number;
  /** Also bin polish photos by how visible their defects are (re-renders every synthetic polish photo once). */
  visibility?: boolean;
  /**
   * Also write every photo's verifier candidates per kind here (JSON lines, `KindCandidatesLine`): what
   * `models/eval/score-rules.ts` pools offline.
   */
  candidatesOut?: string;
  /**
   * Warm up as a worker does before its first job (networks, then the committed samples; ~7 s), so the per-photo times
   * are the service's: what `loupe eval` and `loupe eval-suite` publish. Calibration and retraining runs, which read
   * only the scores, leave it off.
   */
  warmUp?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export const FAMILY_KEYS = ['porosity', 'stone_spacing', 'polish'] as const;
export type FamilyKey = (typeof FAMILY_KEYS)[number];

/**
 * What eval learnt about one photo, kept in memory (never written to the metrics JSON) so a failure gallery can be
 * drawn without a second inference pass.
 */
/** A photo labelled clean in every family: what a false alarm on a clean piece is counted on. */
export function isClean(entry: ManifestEntry): boolean {
  return !entry.labels.porosity && !entry.labels.stone_spacing && !entry.labels.polish;
}

export interface ImageOutcome {
  entry: ManifestEntry;
  report: InspectionReport;
  /** The profile the photo was judged with (resolved for its metal). */
  profile: Profile;
  /** Flagged per family exactly as the metrics count it. */
  flagged: Record<FamilyKey, boolean>;
  /** Per true defect in manifest order. `found`: the metrics' rule (a finding of its family overlaps); `foundByKind`:
   * a finding of its own kind overlaps (differs from `found` for polish only). */
  defects: Array<{ defect: Defect; found: boolean; foundByKind: boolean }>;
  /** The score each polish kind had to reach for its findings to count. */
  polishGates: Record<PolishKind, number>;
}

/** One photo's line of `--candidates`: its labels, the report's kind scores, and each kind's candidates. */
export interface KindCandidatesLine {
  file: string;
  labels: ManifestEntry['labels'];
  /** Defect kinds present (any family). */
  kinds: string[];
  kindScores: Record<string, number>;
  /** Per verifier-scored kind: [x, y, probability, source] per candidate (source -1: a grid point). */
  candidates: Record<string, Array<[number, number, number, number]>>;
}

export interface EvalWithImages {
  result: EvalResult;
  images: ImageOutcome[];
}

/** Pore-size bins of the model-quality issue, in mm of equivalent diameter. */
export const PORE_BINS: Array<{ bin: string; lo: number; hi: number }> = [
  { bin: '<0.1', lo: 0, hi: 0.1 },
  { bin: '0.1-0.3', lo: 0.1, hi: 0.3 },
  { bin: '>0.3', lo: 0.3, hi: Infinity },
];
/**
 * Visibility bins (`datasets/synth/visibility.ts`: 90th percentile of the photo's change over a defect's mask, 8-bit
 * levels). Under 4 levels a defect is at the photo's noise and JPEG floor; from 25 it stands out at a glance.
 */
export const VISIBILITY_BINS: Array<{ bin: string; lo: number; hi: number }> = [
  { bin: '<4', lo: 0, hi: 4 },
  { bin: '4-10', lo: 4, hi: 10 },
  { bin: '10-25', lo: 10, hi: 25 },
  { bin: '>=25', lo: 25, hi: Infinity },
];
const VISIBILITY_MEASURE = 'p90 of the largest channel change over the defect mask, photo vs. its defect-free twin, 8-bit levels';

const SCALE_BINS: Array<{ bin: string; lo: number; hi: number }> = [
  { bin: '<0.005', lo: 0, hi: 0.005 },
  { bin: '0.005-0.01', lo: 0.005, hi: 0.01 },
  { bin: '0.01-0.015', lo: 0.01, hi: 0.015 },
  { bin: '0.015-0.02', lo: 0.015, hi: 0.02 },
  { bin: '0.02-0.03', lo: 0.02, hi: 0.0300001 },
  { bin: 'unknown', lo: NaN, hi: NaN },
];

function parseModelRef(ref: string | undefined): { id: string; version?: string } | undefined {
  if (!ref) return undefined;
  const [id, version] = ref.split('@');
  return { id: id!, ...(version ? { version } : {}) };
}

async function readMask(dir: string, rel: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(join(dir, rel)).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Samples a working-scale probability plane at every photo pixel (nearest), so truth masks keep their thin lines. */
function planeAtPhoto(plane: Float32Array, pw: number, ph: number, scaleToPhoto: number, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(ph - 1, Math.floor(y / scaleToPhoto));
    const row = sy * pw;
    for (let x = 0; x < width; x++) out[y * width + x] = plane[row + Math.min(pw - 1, Math.floor(x / scaleToPhoto))];
  }
  return out;
}

function maxPlanes(planes: Float32Array[]): Float32Array {
  const out = new Float32Array(planes[0]!.length);
  for (const p of planes) for (let i = 0; i < p.length; i++) if (p[i] > out[i]) out[i] = p[i];
  return out;
}

/** A polish photo under `--visibility`: its most visible defect, verdict and score, and each of its kinds'. */
interface VisiblePolishPhoto {
  family: number;
  flagged: boolean;
  score: number;
  kinds: Array<{ kind: string; vis: number; score: number; caught: boolean }>;
}

/** The polish photos' visibility rows (see `polishVisibility` in the result schema). */
function visibilityBins(
  photos: readonly VisiblePolishPhoto[],
  familyNegatives: number[],
  kindScores: Map<PolishKind, { neg: number[] }>,
): NonNullable<EvalResult['polishVisibility']> {
  const inBin = (b: { lo: number; hi: number }, v: number) => v >= b.lo && v < b.hi;
  const family = VISIBILITY_BINS.map((b) => {
    const here = photos.filter((p) => inBin(b, p.family));
    return { bin: b.bin, images: here.length, auroc: aurocOf(here.map((p) => p.score), familyNegatives), caught: here.filter((p) => p.flagged).length };
  });
  const kinds = Object.fromEntries(
    POLISH_KINDS.map((k) => {
      const rows = photos.flatMap((p) => p.kinds.filter((x) => x.kind === k));
      return [
        k,
        VISIBILITY_BINS.map((b) => {
          const here = rows.filter((r) => inBin(b, r.vis));
          return { bin: b.bin, images: here.length, auroc: aurocOf(here.map((r) => r.score), kindScores.get(k)!.neg), caught: here.filter((r) => r.caught).length };
        }),
      ];
    }),
  );
  return { measure: VISIBILITY_MEASURE, family, kinds };
}

export function boxesOverlap(a: readonly number[], b: readonly number[], pad: number): boolean {
  return a[0]! - pad < b[2]! && b[0]! - pad < a[2]! && a[1]! - pad < b[3]! && b[1]! - pad < a[3]!;
}

/**
 * A truth defect counts as found when a counted finding of its family overlaps its box (one pixel of slack for
 * rounding). Findings under their gate are left out: the inspector's overlay does not show them.
 */
function defectFound(defect: Defect, report: InspectionReport): boolean {
  const fam = report.families;
  const hit = (f: { bbox: readonly number[]; belowGate?: boolean }) => !f.belowGate && boxesOverlap(f.bbox, defect.bbox, 1);
  if (defect.family === 'porosity') return fam.porosity.findings.some(hit);
  if (defect.family === 'polish') return fam.polish.findings.some(hit);
  return fam.stone_spacing.verdict !== 'pass';
}

function defectFoundByKind(defect: Defect, report: InspectionReport): boolean {
  if (defect.family !== 'polish') return defectFound(defect, report);
  return report.families.polish.findings.some((f) => !f.belowGate && f.kind === defect.kind && boxesOverlap(f.bbox, defect.bbox, 1));
}

function flagged(report: InspectionReport, family: FamilyKey): boolean {
  return report.verdict === 'retake' || report.families[family].verdict !== 'pass';
}

export async function runEval(options: EvalOptions): Promise<EvalResult> {
  return (await evaluate(options, false)).result;
}

/** `runEval` that also returns every photo's report and outcome (memory grows with the set: reports carry masks). */
export function runEvalWithImages(options: EvalOptions): Promise<EvalWithImages> {
  return evaluate(options, true);
}

async function evaluate(options: EvalOptions, keepImages: boolean): Promise<EvalWithImages> {
  const started = performance.now();
  const entries: ManifestEntry[] = await loadManifest(options.data);
  const selected = options.limit ? entries.slice(0, options.limit) : entries;
  const profiles = loadProfiles();
  // With `warmUp`, as a worker before its first job (workers/main.ts): without the enlarged sample, the 12 MP test set's
  // largest photo paid for growing the process's memory (2.7 s against 1.5 s).
  const registry = await createModelRegistry({ dir: options.modelsDir, ...(options.warmUp ? { warmUpRuns: DEFAULT_WORKER_WARMUP_RUNS } : {}) });
  const pin = parseModelRef(options.model);
  const lease = await registry.lease(pin ? [pin] : undefined);
  try {
    if (options.warmUp) await warmUpPipeline(await warmUpPhotos(), profiles.get(options.profile), { models: lease.models });
    const model = lease.models[0]!;
    const scores: Record<FamilyKey, number[]> = { porosity: [], stone_spacing: [], polish: [] };
    const flags: Record<FamilyKey, boolean[]> = { porosity: [], stone_spacing: [], polish: [] };
    const labels: Record<FamilyKey, boolean[]> = { porosity: [], stone_spacing: [], polish: [] };
    const pixel = { porosity: new PooledPixelAuroc(), polish: new PooledPixelAuroc() };
    const pixelImages = { porosity: 0, polish: 0 };
    const stoneCounts = { truth: 0, predicted: 0, matched: 0 };
    const gapErrors: number[] = [];
    let gapsMatched = 0;
    const poreBins = PORE_BINS.map((b) => ({ ...b, defects: 0, detected: 0 }));
    const kinds = new Map<string, { defects: number; detected: number }>();
    const byScale = SCALE_BINS.map((b) => ({ ...b, idx: [] as number[] }));
    let cleanImages = 0;
    let cleanFlagged = 0;
    // Clean photos the quality gate let through, and those of them any family flagged.
    let cleanJudged = 0;
    let cleanDefectFlagged = 0;
    // Which family raised each false alarm on a clean photo (a photo can count under several).
    const cleanFlaggedBy = { porosity: 0, stone_spacing: 0, polish: 0, retake: 0 };
    let retakes = 0;
    const retakeReasons: Record<string, number> = {};
    // Where the piece mask found the piece, and why it fell back to the whole frame elsewhere: a fallback costs time
    // (the models run on the whole frame) and puts the backdrop under every family's candidates.
    const pieceMask = { found: 0, fallbacks: {} as Record<string, number> };
    let inspectMs = 0;
    // Each photo's own time: the mean hides the slow framings (a coarse mm/px leaves a large working image).
    const photoMs: number[] = [];
    const images: ImageOutcome[] = [];
    // Per polish kind: the kind's score on photos holding it, and on photos with no polish defect.
    const kindScores = new Map<PolishKind, { pos: number[]; neg: number[] }>(POLISH_KINDS.map((k) => [k, { pos: [], neg: [] }]));
    // Per polish photo (with --visibility): each kind's visibility, score and whether it reached its gate.
    const visible: VisiblePolishPhoto[] = [];

    if (options.candidatesOut) {
      await mkdir(dirname(resolve(options.candidatesOut)), { recursive: true });
      await writeFile(options.candidatesOut, '');
    }
    for (const [i, entry] of selected.entries()) {
      const bytes = await readFile(join(options.data, entry.file));
      const profile = profiles.get(options.profile, entry.metal);
      let maps: PipelineMaps | undefined;
      const candidates: KindCandidatesLine['candidates'] = {};
      const t0 = performance.now();
      const report = await inspect(
        bytes,
        {
          // Unknown scale (real sets): feed native pixels as working pixels rather than invent a scale.
          mmPerPx: entry.mmPerPx ?? model.manifest.input.workingMmPerPx ?? profile.defaultMmPerPx,
          ...(entry.view ? { view: entry.view } : {}),
          ...(entry.metal ? { metal: entry.metal } : {}),
          ...(entry.stoneRow ? { expectedStones: entry.stoneRow.expectedCount } : {}),
        },
        profile,
        {
          models: lease.models,
          onMaps: (m) => (maps = m),
          ...(options.candidatesOut
            ? { onKindCandidates: (kind, cs, k) => (candidates[kind] = cs.map((c) => [c.x, c.y, c.probs[k]!, c.source])) }
            : {}),
        },
      );
      const ms = performance.now() - t0;
      inspectMs += ms;
      photoMs.push(ms);
      if (options.candidatesOut) {
        const line: KindCandidatesLine = {
          file: entry.file,
          labels: entry.labels,
          kinds: [...new Set(entry.defects.map((d) => d.kind))],
          kindScores: { porosity: report.families.porosity.score, ...report.families.polish.kindScores },
          candidates,
        };
        await appendFile(options.candidatesOut, JSON.stringify(line) + '\n');
      }
      const fallback = report.pieceMask?.fallback;
      if (report.pieceMask?.source === 'piece') pieceMask.found++;
      else if (fallback) pieceMask.fallbacks[fallback] = (pieceMask.fallbacks[fallback] ?? 0) + 1;
      if (report.verdict === 'retake') {
        retakes++;
        for (const r of report.quality.reasons) retakeReasons[r.code] = (retakeReasons[r.code] ?? 0) + 1;
      }

      for (const f of FAMILY_KEYS) {
        scores[f].push(report.families[f].score);
        flags[f].push(flagged(report, f));
        labels[f].push(entry.labels[f]);
      }
      for (const [k, acc] of kindScores) {
        const score = report.families.polish.kindScores[k] ?? 0;
        if (!entry.labels.polish) acc.neg.push(score);
        else if (entry.defects.some((d) => d.kind === k)) acc.pos.push(score);
      }
      if (options.visibility && entry.labels.polish && canMeasureVisibility(entry)) {
        const vis = await defectVisibility(options.data, entry);
        const pol = report.families.polish;
        const kindsHere = POLISH_KINDS.filter((k) => vis[k]).map((k) => ({
          kind: k,
          vis: vis[k]!.p90,
          score: pol.kindScores[k] ?? 0,
          caught: (pol.kindScores[k] ?? 0) >= (pol.kindGates?.[k]?.scoreThreshold ?? Infinity),
        }));
        if (kindsHere.length > 0) {
          visible.push({ family: Math.max(...kindsHere.map((k) => k.vis)), flagged: flags.polish[i]!, score: pol.score, kinds: kindsHere });
        }
      }
      const clean = isClean(entry);
      if (clean) {
        cleanImages++;
        if (report.verdict !== 'pass') cleanFlagged++;
        if (report.verdict === 'retake') cleanFlaggedBy.retake++;
        else {
          cleanJudged++;
          if (report.verdict !== 'pass') cleanDefectFlagged++;
          for (const f of FAMILY_KEYS) if (report.families[f].verdict !== 'pass') cleanFlaggedBy[f]++;
        }
      }
      const scaleBin = byScale.find((b) => (entry.mmPerPx === null ? b.bin === 'unknown' : entry.mmPerPx >= b.lo && entry.mmPerPx < b.hi));
      scaleBin?.idx.push(i);

      // Pixel metrics pooled over images that carry masks (a clean image of a pixel-labelled set counts, all-zero).
      const pixelLabelled = entry.labelLevel !== 'image';
      if (maps && pixelLabelled) {
        const m = maps;
        for (const fam of ['porosity', 'polish'] as const) {
          const planes = fam === 'porosity' ? [m.planes.get('porosity')] : ['scratch', 'haze', 'tool_mark', 'orange_peel'].map((k) => m.planes.get(k));
          if (planes.some((p) => !p)) continue;
          const prob = planeAtPhoto(maxPlanes(planes as Float32Array[]), m.width, m.height, m.scaleToPhoto, entry.width, entry.height);
          const maskRel = entry.masks[fam];
          const truth = maskRel ? (await readMask(options.data, maskRel)).data : new Uint8Array(entry.width * entry.height);
          const threshold =
            fam === 'porosity'
              ? (model.manifest.operatingPoints.porosity?.pixelThreshold ?? 0.5)
              : Math.min(...Object.values(model.manifest.operatingPoints.polish ?? {}).map((op) => op.pixelThreshold));
          pixel[fam].add(prob, truth, threshold);
          pixelImages[fam]++;
        }
      }

      const outcomes: ImageOutcome['defects'] = [];
      for (const d of entry.defects) {
        const found = defectFound(d, report);
        outcomes.push({ defect: d, found, foundByKind: defectFoundByKind(d, report) });
        const k = kinds.get(d.kind) ?? { defects: 0, detected: 0 };
        k.defects++;
        if (found) k.detected++;
        kinds.set(d.kind, k);
        if (d.family === 'porosity' && d.sizeMm !== null) {
          const bin = poreBins.find((b) => d.sizeMm! >= b.lo && d.sizeMm! < b.hi)!;
          bin.defects++;
          if (found) bin.detected++;
        }
      }

      if (entry.stones.length > 0 || report.families.stone_spacing.stones.length > 0) {
        const truth = entry.stones;
        const pred = report.families.stone_spacing.stones;
        const matches = matchStones(truth, pred);
        stoneCounts.truth += truth.length;
        stoneCounts.predicted += pred.length;
        stoneCounts.matched += matches.length;
        if (entry.mmPerPx !== null) {
          const gaps = gapErrorsMm(truth, pred, report.families.stone_spacing.gapsMm, entry.mmPerPx);
          gapErrors.push(...gaps.errorsMm);
          gapsMatched += gaps.matchedPairs;
        }
      }
      if (keepImages) {
        images.push({
          entry,
          report,
          profile,
          flagged: { porosity: flags.porosity[i]!, stone_spacing: flags.stone_spacing[i]!, polish: flags.polish[i]! },
          defects: outcomes,
          polishGates: Object.fromEntries(
            // The gates the report was held to (a photo's size can choose them: `modelImageThreshold`).
            POLISH_KINDS.map((k) => [k, report.families.polish.kindGates?.[k]?.scoreThreshold ?? gateFor(profile.scoreThresholds.polish, undefined).scoreThreshold]),
          ) as Record<PolishKind, number>,
        });
      }
      options.onProgress?.(i + 1, selected.length);
    }

    const fam = (f: FamilyKey) => classificationMetrics(scores[f], flags[f], labels[f]);
    const sub = (f: FamilyKey, idx: number[]) =>
      classificationMetrics(
        idx.map((i) => scores[f][i]!),
        idx.map((i) => flags[f][i]!),
        idx.map((i) => labels[f][i]!),
      ).auroc;
    const sp = stoneCounts.predicted > 0 ? stoneCounts.matched / stoneCounts.predicted : null;
    const sr = stoneCounts.truth > 0 ? stoneCounts.matched / stoneCounts.truth : null;
    const result: EvalResult = {
      schemaVersion: 1,
      data: resolve(options.data),
      images: selected.length,
      model: { id: lease.models[0]!.id, version: lease.models[0]!.version, sha256: lease.models[0]!.manifest.sha256 },
      profile: { name: options.profile, version: profiles.get(options.profile).version },
      families: { porosity: fam('porosity'), stone_spacing: fam('stone_spacing'), polish: fam('polish') },
      pixel: {
        porosity: { auroc: pixel.porosity.auroc(), iou: pixel.porosity.iou(), images: pixelImages.porosity },
        polish: { auroc: pixel.polish.auroc(), iou: pixel.polish.iou(), images: pixelImages.polish },
      },
      stones: {
        precision: sp,
        recall: sr,
        f1: sp !== null && sr !== null && sp + sr > 0 ? (2 * sp * sr) / (sp + sr) : null,
        gapMaeMm: mean(gapErrors),
        truth: stoneCounts.truth,
        predicted: stoneCounts.predicted,
        matched: stoneCounts.matched,
        gapPairs: gapErrors.length,
        gapPairsMatched: gapsMatched,
      },
      cleanFalseFlagRate: cleanImages > 0 ? cleanFlagged / cleanImages : null,
      cleanDefectFlagRate: cleanJudged > 0 ? cleanDefectFlagged / cleanJudged : null,
      cleanFlaggedBy: { images: cleanImages, ...cleanFlaggedBy },
      retakes,
      retakeReasons,
      pieceMask,
      byPoreSizeMm: poreBins.map((b) => ({ bin: b.bin, defects: b.defects, detected: b.detected, recall: b.defects ? b.detected / b.defects : null })),
      byKind: Object.fromEntries(
        [...kinds.entries()].sort().map(([k, v]) => [k, { bin: k, defects: v.defects, detected: v.detected, recall: v.defects ? v.detected / v.defects : null }]),
      ),
      polishKinds: Object.fromEntries(
        [...kindScores].map(([k, { pos, neg }]) => [
          k,
          { auroc: aurocOf(pos, neg), positives: pos.length, negatives: neg.length },
        ]),
      ),
      ...(options.visibility ? { polishVisibility: visibilityBins(visible, scores.polish.filter((_, i) => !labels.polish[i]), kindScores) } : {}),
      byMmPerPx: byScale
        .filter((b) => b.idx.length > 0)
        .map((b) => ({
          bin: b.bin,
          images: b.idx.length,
          porosityAuroc: sub('porosity', b.idx),
          polishAuroc: sub('polish', b.idx),
          spacingAuroc: sub('stone_spacing', b.idx),
        })),
      timing: { msPerImage: selected.length ? inspectMs / selected.length : 0, totalS: (performance.now() - started) / 1000, ...photoTimeSpread(photoMs) },
      createdAt: new Date().toISOString(),
    };
    const parsed = EvalResultSchema.parse(result);
    await mkdir(dirname(resolve(options.out)), { recursive: true });
    await writeFile(options.out, JSON.stringify(parsed, null, 2) + '\n');
    return { result: parsed, images };
  } finally {
    lease.release();
    await registry.close();
  }
}

/** Median, 90th percentile and slowest of the photos' times (nearest rank); none without photos. */
export function photoTimeSpread(ms: readonly number[]): { msMedian?: number; msP90?: number; msMax?: number } {
  if (ms.length === 0) return {};
  const sorted = [...ms].sort((a, b) => a - b);
  const rank = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { msMedian: rank(0.5), msP90: rank(0.9), msMax: sorted[sorted.length - 1]! };
}
