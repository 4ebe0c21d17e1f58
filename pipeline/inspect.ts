import { setImmediate as yieldToLoop } from 'node:timers/promises';
import sharp from 'sharp';
import { POLISH_CHANNELS, POROSITY_CHANNEL, STONE_HEAT_CHANNELS, STONE_RADIUS_CHANNELS } from './channels.js';
import { decodePhoto, probePhoto, sha256Hex, type DecodedRgb } from './decode.js';
import { PipelineError } from './errors.js';
import type { ChannelMaps, InferTimings } from './infer.js';
import { runModelWithTta } from './tta.js';
import type { OperatingPoint, Verifier } from './model-manifest.schema.js';
import { analysePolishKind, type PolishKindAnalysis } from './postprocess/polish.js';
import { polishCandidates } from './postprocess/polish-candidates.js';
import { clearOfStones, runVerifier, verifiedKindPeak, type VerifiedCandidate } from './verify.js';
import { analysePorosity } from './postprocess/porosity.js';
import { compactMask } from './postprocess/rle.js';
import { analyseSpacing } from './postprocess/spacing.js';
import { emptySeatDiscs, maskOutsideDiscs, outsideDiscs } from './postprocess/empty-seats.js';
import { detectStones } from './postprocess/stones.js';
import { refineStones } from './stone-refine.js';
import { polishFamilyGate, polishFamilyScore } from './polish-family.js';
import { centreToPhoto, round } from './postprocess/coords.js';
import { planePeak } from './postprocess/regions.js';
import { cropRgb, pieceCropRect } from './piece-crop.js';
import { computePieceMask, ON_PIECE_MIN_SHARE, pieceGatesAt, SILHOUETTE_EDGE_PX, type PieceGates, type PieceMask } from './piece-mask.js';
import { workingScale, type WorkingScale } from './preprocess.js';
import type { Profile } from './profile.schema.js';
import { judgeQuality, qualityCopy } from './quality.js';
import type { LoadedModel } from './registry.js';
import {
  InspectMetadataSchema,
  LENGTH_POLISH_KINDS,
  REPORT_SCHEMA_VERSION,
  type Gate,
  type InspectionReport,
  type InspectMetadata,
} from './report.schema.js';
import { gateFor, gateSpacing, judgePolish, judgePorosity, markGate, modelImageThreshold, overallVerdict, reachesGate } from './score.js';

/** One model's stitched probability maps at its working scale, for callers that need pixels (eval's pixel AUROC). */
export interface PipelineMaps {
  modelId: string;
  width: number;
  height: number;
  /** Photo pixels per map pixel. */
  scaleToPhoto: number;
  /** mm per map pixel. */
  mmPerPx: number;
  /** Channel name -> plane (width x height, row major); valid only during the callback's synchronous run or after. */
  planes: Map<string, Float32Array>;
}

export interface InspectDeps {
  /** Models to run (a registry lease's `models`); their outputs are looked up by channel name. */
  models: readonly LoadedModel[];
  /** Called once per model with its maps, before post-processing; off the report, so reports stay small. */
  onMaps?: (maps: PipelineMaps) => void;
  /** Called once per verifier pass with its candidate count and timings (benchmarks; the report keeps stage totals). */
  onVerifier?: (pass: VerifierPass) => void;
  /**
   * Called per verifier-scored kind with the candidates its score is the peak of (after the kind's own filters), so a
   * different rule for pooling them can be tried offline (`loupe eval --candidates`) without running the models again.
   */
  onKindCandidates?: (kind: string, candidates: readonly VerifiedCandidate[], kindIndex: number) => void;
  /** Called once with the stones found in the maps and the time their measurement took (benchmarks). */
  onStones?: (pass: StonePass) => void;
  /** Most tiles per `session.run` (default 8, further capped at ~1 MP of input per call by `infer.ts`). */
  batchSize?: number;
}

const DEFAULT_BATCH = 8;

export interface VerifierPass {
  modelId: string;
  candidates: number;
  /** Candidate search, patch building, and the verifier network, ms. */
  searchMs: number;
  patchMs: number;
  networkMs: number;
}

/** The stone measurement of one inspection (`detectStones`: heat peaks, then their outlines measured in the photo). */
export interface StonePass {
  stones: number;
  /** Within post-processing. */
  ms: number;
}

interface MapSet {
  maps: ChannelMaps;
  scale: WorkingScale;
  model: LoadedModel;
  /** The photo at this model's working scale: stone outlines are measured in it. */
  rgb: DecodedRgb;
}

function findChannel(sets: MapSet[], names: readonly string[]): { set: MapSet; plane: Float32Array; name: string } | null {
  for (const set of sets) {
    for (const name of names) {
      const plane = set.maps.planes.get(name);
      if (plane) return { set, plane, name };
    }
  }
  return null;
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) {
    throw new PipelineError('model_unavailable', `no loaded model provides ${what}`, { missing: what });
  }
  return value;
}

/** The piece gates at one model's working scale, made once per scale. */
function gatesFor(cache: Map<MapSet, PieceGates>, piece: PieceMask, set: MapSet): PieceGates {
  let gates = cache.get(set);
  if (!gates) {
    gates = pieceGatesAt(piece, set.maps.width, set.maps.height, SILHOUETTE_EDGE_PX);
    cache.set(set, gates);
  }
  return gates;
}

/**
 * The image-level score of one channel, the one place it is computed: the largest value on the piece (`onPiece`), so
 * the backdrop cannot raise it, of the channel's evidence plane when the model has one, else of its probability map.
 */
function channelImageScore(set: MapSet, channel: string, plane: Float32Array, onPiece: Uint8Array): ScoreRead {
  // Models from loupe-seg 1.1 carry an `<channel>_evidence` plane trained for exactly this question; the max of the
  // pixel map saturates near 1 on one strong pixel, so it ranks photos poorly.
  const peak = planePeak(set.maps.planes.get(`${channel}_evidence`) ?? plane, onPiece);
  const w = set.maps.width;
  return { score: Math.min(1, peak.value), at: peak.index < 0 ? null : { x: peak.index % w, y: Math.floor(peak.index / w) } };
}

/**
 * The evidence planes `channelImageScore` will never read: those of the channels the model's verifier scores instead.
 * `runModel` leaves them unstitched (five full-size planes at 12 MP with loupe-seg 1.3 and later).
 */
export function unreadChannels(model: LoadedModel): ReadonlySet<string> {
  const spec = model.manifest.verifier;
  if (!spec || !model.verifier) return new Set();
  return new Set(spec.kinds.map((k) => `${k}_evidence`));
}

/** An image score and the working-scale pixel it was read at (null when nothing on the piece scored above 0). */
interface ScoreRead {
  score: number;
  at: { x: number; y: number } | null;
}

/** Where a score was read, in photo pixels, for the report. */
function scoreAtPhoto(read: ScoreRead, set: MapSet): { cx: number; cy: number } | null {
  const s = set.scale.scaleToPhoto;
  return read.at ? { cx: round(centreToPhoto(read.at.x, s), 1), cy: round(centreToPhoto(read.at.y, s), 1) } : null;
}

/** The verifier's passes of one inspection: one per model scale (`cache`), their time added to the stage totals. */
interface VerifierPasses {
  cache: Map<MapSet, VerifiedCandidate[]>;
  timings: InferTimings;
  onVerifier?: (pass: VerifierPass) => void;
  onKindCandidates?: InspectDeps['onKindCandidates'];
}

/**
 * The model's verifier over its candidates, once per model scale; null when the model has none or it does not verify
 * `kind`. Session time counts as inference, patch building as preprocess.
 */
async function verifiedFor(
  passes: VerifierPasses,
  set: MapSet,
  kind: string,
  onPiece: Uint8Array,
): Promise<{ verified: VerifiedCandidate[]; kindIndex: number; spec: Verifier } | null> {
  const spec = set.model.manifest.verifier;
  const session = set.model.verifier;
  const kindIndex = spec?.kinds.indexOf(kind) ?? -1;
  if (!spec || !session || kindIndex < 0) return null;
  let verified = passes.cache.get(set);
  if (!verified) {
    const planes = spec.kinds.map((k) => required(set.maps.planes.get(k), `a "${k}" channel for the verifier`));
    const t0 = performance.now();
    const candidates = polishCandidates(planes, set.maps.width, set.maps.height, onPiece, spec.candidates);
    const searchMs = performance.now() - t0;
    const own = { preprocessMs: 0, inferenceMs: 0 };
    verified = await runVerifier(session, set.rgb, candidates, spec, set.model.manifest.input.normalisation, own);
    passes.timings.preprocessMs += own.preprocessMs;
    passes.timings.inferenceMs += own.inferenceMs;
    passes.onVerifier?.({ modelId: set.model.id, candidates: candidates.length, searchMs, patchMs: own.preprocessMs, networkMs: own.inferenceMs });
    passes.cache.set(set, verified);
  }
  return { verified, kindIndex, spec };
}

/**
 * A kind's image score: the verifier's over its candidates on `candidatesOn` that `keep` keeps, when the model's
 * verifier looks at the kind (with those candidates, for the kind's findings), else the evidence plane's over
 * `evidenceOn`. The verifier's pass is shared by every kind, so what one kind leaves out is left out by `keep`, after it.
 */
async function kindScore(
  passes: VerifierPasses,
  set: MapSet,
  kind: string,
  plane: Float32Array,
  candidatesOn: Uint8Array,
  evidenceOn: Uint8Array,
  keep?: (candidates: VerifiedCandidate[], spec: Verifier) => VerifiedCandidate[],
): Promise<ScoreRead & { verified: Awaited<ReturnType<typeof verifiedFor>> }> {
  const pass = await verifiedFor(passes, set, kind, candidatesOn);
  const verified = pass && keep ? { ...pass, verified: keep(pass.verified, pass.spec) } : pass;
  if (!verified) return { ...channelImageScore(set, kind, plane, evidenceOn), verified };
  passes.onKindCandidates?.(kind, verified.verified, verified.kindIndex);
  const peak = verifiedKindPeak(verified.verified, verified.kindIndex);
  return { score: peak.score, at: peak.at && { x: peak.at.x, y: peak.at.y }, verified };
}

async function resampleRgb(rgb: DecodedRgb, width: number, height: number): Promise<DecodedRgb> {
  const { data, info } = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/**
 * Photo bytes in, report out. Pure: no files, no network, no clock beyond the stage timings; models come in `deps`.
 * The profile passed should already carry the metal's overrides (`profiles.get(name, metadata.metal)`).
 */
export async function inspect(photoBytes: Uint8Array, metadata: InspectMetadata, profile: Profile, deps: InspectDeps): Promise<InspectionReport> {
  const tStart = performance.now();
  const meta = InspectMetadataSchema.safeParse(metadata);
  if (!meta.success) {
    const issue = meta.error.issues[0]!;
    throw new PipelineError('invalid_metadata', `metadata ${issue.path.join('.')}: ${issue.message}`, { field: issue.path.join('.') });
  }
  if (deps.models.length === 0) throw new PipelineError('model_unavailable', 'no models to run');
  const md = meta.data;

  // Decode: header first (bombs and tiny images refused before any pixel buffer), then one decode at working scale.
  const header = await probePhoto(photoBytes, profile.decode);
  const sha256 = sha256Hex(photoBytes);
  const mmPerPx = md.mmPerPx ?? profile.defaultMmPerPx;
  const mmPerPxSource = md.mmPerPx !== undefined ? (md.mmPerPxSource ?? 'given') : 'default';
  const scales = deps.models.map((m) => workingScale(header, mmPerPx, m.manifest.input.workingMmPerPx));
  // Decode at the finest scale any model needs; coarser models get a resample of that buffer.
  const primary = scales.reduce((a, b) => (b.width > a.width ? b : a));
  const rgb = await decodePhoto(photoBytes, profile.decode, primary.scaleToPhoto > 1 ? primary : undefined);
  const tDecode = performance.now();

  // Where the piece is, once per photo: the quality gate judges exposure on it, post-processing keeps findings on it.
  // The gate's grey copy is made in libvips' threads meanwhile; Promise.all, so neither failure goes unhandled.
  let tPiece = 0;
  const [grey, piece] = await Promise.all([
    qualityCopy(rgb, profile.quality),
    computePieceMask(rgb, profile.quality).then((mask) => {
      tPiece = performance.now();
      return mask;
    }),
  ]);
  const quality = judgeQuality(grey, header, profile.quality, piece);
  const tQuality = performance.now();
  await yieldToLoop();

  const timings: InferTimings = { preprocessMs: 0, inferenceMs: 0 };
  const sets: MapSet[] = [];
  for (const [i, model] of deps.models.entries()) {
    const scale = scales[i]!;
    let input = rgb;
    if (scale.width !== rgb.width || scale.height !== rgb.height) {
      const t0 = performance.now();
      input = await resampleRgb(rgb, scale.width, scale.height);
      timings.preprocessMs += performance.now() - t0;
    }
    const rect = profile.inference.cropToPiece ? pieceCropRect(piece, input.width, input.height) : null;
    const place = rect ? { rect, width: input.width, height: input.height } : undefined;
    const tCrop = performance.now();
    const cropped = rect ? cropRgb(input, rect) : input;
    timings.preprocessMs += performance.now() - tCrop;
    const maps = await runModelWithTta(model, cropped, { batchSize: deps.batchSize ?? DEFAULT_BATCH, skipChannels: unreadChannels(model) }, timings, profile.inference.tta, place);
    sets.push({ maps, scale, model, rgb: input });
    deps.onMaps?.({ ...maps, scaleToPhoto: scale.scaleToPhoto, mmPerPx: scale.mmPerPx });
    await yieldToLoop();
  }
  const tInfer = performance.now();
  // The verifier runs inside post-processing; its patch building and network time go to preprocess and inference,
  // so post-processing is the stage's wall time less what was added there (each millisecond counted once).
  const modelStagesAtInfer = timings.preprocessMs + timings.inferenceMs;

  // Stones and spacing first: porosity leaves a missing stone's empty seat out (`emptySeatDiscs`), and the line kinds'
  // polish candidates next to a stone do not count (`clearOfStones`).
  const gateCache = new Map<MapSet, PieceGates>();
  const passes: VerifierPasses = {
    cache: new Map(),
    timings,
    ...(deps.onVerifier ? { onVerifier: deps.onVerifier } : {}),
    ...(deps.onKindCandidates ? { onKindCandidates: deps.onKindCandidates } : {}),
  };
  const heat = required(findChannel(sets, STONE_HEAT_CHANNELS), `a stone heat channel (${STONE_HEAT_CHANNELS.join(' | ')})`);
  const radius = required(
    heat.set.model.manifest.outputs.flatMap((o) => o.channels).some((c) => (STONE_RADIUS_CHANNELS as readonly string[]).includes(c))
      ? findChannel([heat.set], STONE_RADIUS_CHANNELS)
      : null,
    `a stone radius channel (${STONE_RADIUS_CHANNELS.join(' | ')}) beside "${heat.name}"`,
  );
  const stoneOp = required(heat.set.model.manifest.operatingPoints.stones, `stones operating point in ${heat.set.model.id}/model.json`);
  const hs = heat.set.scale;
  const tStones = performance.now();
  const found = detectStones(heat.plane, radius.plane, heat.set.maps.width, heat.set.maps.height, stoneOp, heat.set.rgb);
  deps.onStones?.({ stones: found.length, ms: performance.now() - tStones });
  const refiner = heat.set.model.stoneRefiner;
  const refinerSpec = heat.set.model.manifest.stoneRefiner;
  const detected = refiner && refinerSpec ? await refineStones(refiner, refinerSpec, heat.set.rgb, found, timings) : found;
  // The stones in another model's working px (in practice one model: the same).
  const stonesAt = (set: MapSet) => {
    const f = hs.scaleToPhoto / set.scale.scaleToPhoto;
    return detected.map((st) => ({ x: st.x * f, y: st.y * f, r: st.r * f }));
  };

  const spacing = analyseSpacing({
    stones: detected.map((s) => ({
      cx: centreToPhoto(s.x, hs.scaleToPhoto),
      cy: centreToPhoto(s.y, hs.scaleToPhoto),
      r: s.r * hs.scaleToPhoto,
      confidence: s.confidence,
    })),
    mmPerPx,
    tolerance: profile.stone_spacing,
    expectedCount: md.expectedStones ?? profile.stone_spacing.expectedStones,
  });
  const spacingGate = gateFor(profile.scoreThresholds.stone_spacing, undefined);
  await yieldToLoop();

  // Porosity: pores on the piece only, outside the empty seats.
  const por = required(findChannel(sets, [POROSITY_CHANNEL]), `a "${POROSITY_CHANNEL}" channel`);
  const porOp = required(por.set.model.manifest.operatingPoints.porosity, `porosity operating point in ${por.set.model.id}/model.json`);
  const porPiece = gatesFor(gateCache, piece, por.set).piece;
  const seats = emptySeatDiscs(spacing.missing, spacing.stones, por.set.scale.scaleToPhoto);
  const porOn = maskOutsideDiscs(porPiece, por.set.maps.width, por.set.maps.height, seats);
  const porRead = await kindScore(passes, por.set, POROSITY_CHANNEL, por.plane, porPiece, porOn, (candidates) => outsideDiscs(candidates, seats));
  const porosity = analysePorosity(
    por.plane,
    por.set.maps.width,
    por.set.maps.height,
    porOp,
    profile.porosity,
    por.set.scale,
    { onPiece: porOn, minShare: ON_PIECE_MIN_SHARE },
    porRead.score,
  );
  const porGate = gateFor(profile.scoreThresholds.porosity, modelImageThreshold(por.set.model.manifest.operatingPoints, POROSITY_CHANNEL, por.set.scale.scaleToPhoto));
  await yieldToLoop();

  // Polish, kind by kind; one mask per model scale (in practice one model). Lines are gated like pores; patches on the
  // piece away from its silhouette, whose bright rim looks like haze to the model.
  const polishKinds: Array<PolishKindAnalysis & { gate: Gate; scoreAt: { cx: number; cy: number } | null }> = [];
  let polishMask: { mask: Uint8Array; set: MapSet } | null = null;
  const polishModels = new Set<LoadedModel>();
  for (const kind of POLISH_CHANNELS) {
    const ch = required(findChannel(sets, [kind]), `a "${kind}" channel`);
    polishModels.add(ch.set.model);
    const op: OperatingPoint = required(ch.set.model.manifest.operatingPoints.polish?.[kind], `polish.${kind} operating point in ${ch.set.model.id}/model.json`);
    polishMask ??= { mask: new Uint8Array(ch.set.maps.width * ch.set.maps.height), set: ch.set };
    const mask = polishMask.set === ch.set ? polishMask.mask : new Uint8Array(ch.set.maps.width * ch.set.maps.height);
    const gates = gatesFor(gateCache, piece, ch.set);
    const isLine = (LENGTH_POLISH_KINDS as readonly string[]).includes(kind);
    const onPiece = isLine ? gates.piece : gates.inner;
    // Glints, seat edges and prongs are lines: the line kinds' candidates next to a stone do not count. A patch kind's
    // do (a real haze patch can hug a stone: val-s201 measured a catch lost when they did not).
    const keepClearOfStones = isLine ? (c: VerifiedCandidate[], spec: Verifier) => clearOfStones(c, stonesAt(ch.set), spec.patchPx) : undefined;
    const read = await kindScore(passes, ch.set, kind, ch.plane, gates.piece, onPiece, keepClearOfStones);
    const { score, verified: v } = read;
    const gate = gateFor(profile.scoreThresholds.polish, modelImageThreshold(ch.set.model.manifest.operatingPoints, kind, ch.set.scale.scaleToPhoto));
    const counts = reachesGate(score, gate);
    // A kind below its gate counts for nothing: its regions stay out of the mask (the overlay paints what counted).
    const analysis = analysePolishKind(
      {
        kind,
        plane: ch.plane,
        op,
        gate: { onPiece, minShare: ON_PIECE_MIN_SHARE },
        score,
        ...(v ? { verified: { points: v.verified.map((c) => ({ x: c.x, y: c.y, p: c.probs[v.kindIndex]! })), gate: gate.scoreThreshold, patchPx: v.spec.patchPx } } : {}),
      },
      ch.set.maps.width,
      ch.set.maps.height,
      profile.polish,
      ch.set.scale,
      counts ? mask : null,
    );
    // With a verifier each finding already says whether it counted; a kind under its gate counts none.
    const findings = v && counts ? analysis.findings : markGate(analysis.findings, score, gate);
    polishKinds.push({ ...analysis, findings, gate, scoreAt: scoreAtPhoto(read, ch.set) });
  }
  await yieldToLoop();

  const porosityVerdict = judgePorosity(porosity.score, porGate, porosity.findings, profile.porosity, porOp.pixelCalibrated === false);
  const polishVerdict = judgePolish(polishKinds, profile.polish);
  const spacingVerdict = gateSpacing(spacing.verdict, spacing.score, spacingGate);
  // A calibration puts one model's kinds on one scale; kinds split over models keep their raw scores.
  const polishCalibration = polishModels.size === 1 ? [...polishModels][0]!.manifest.operatingPoints.polishCalibration : undefined;
  const polishScore = polishFamilyScore(polishKinds, polishCalibration);
  const polishGateThreshold = polishFamilyGate(polishKinds.map((k) => ({ kind: k.kind, gate: k.gate.scoreThreshold })), polishCalibration);
  const tPost = performance.now();

  const modelsUsed = new Map(sets.map((s) => [s.model.id, s.model]));
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    verdict: overallVerdict(quality.ok, [porosityVerdict, spacingVerdict, polishVerdict]),
    photo: { sha256, width: header.width, height: header.height, mmPerPx, mmPerPxSource, format: header.format },
    view: md.view ?? null,
    metal: md.metal ?? null,
    working: { width: primary.width, height: primary.height, mmPerPx: primary.mmPerPx, scaleToPhoto: primary.scaleToPhoto },
    quality: {
      ok: quality.ok,
      reasons: quality.reasons.map((r) => ({ ...r, measured: round(r.measured), limit: r.limit })),
      metrics: {
        ...quality.metrics,
        blur: round(quality.metrics.blur),
        meanLuma: round(quality.metrics.meanLuma),
        clippedHigh: round(quality.metrics.clippedHigh),
        clippedLow: round(quality.metrics.clippedLow),
        pieceFraction: round(quality.metrics.pieceFraction),
      },
    },
    pieceMask: {
      source: piece.source,
      fallback: piece.fallback,
      coverage: round(piece.coverage),
      borderInliers: round(piece.borderInliers),
      outlineOnEdges: round(piece.outlineOnEdges),
      contrast: round(piece.contrast, 2),
      ms: round(tPiece - tDecode, 1),
    },
    families: {
      porosity: {
        score: round(porosity.score),
        verdict: porosityVerdict,
        findings: markGate(porosity.findings, porosity.score, porGate),
        mask: reachesGate(porosity.score, porGate) ? compactMask(porosity.mask, por.set.maps.width, por.set.maps.height, por.set.scale.scaleToPhoto) : null,
        gate: porGate,
        scoreAt: scoreAtPhoto(porRead, por.set),
      },
      stone_spacing: {
        score: spacing.score,
        verdict: spacingVerdict,
        stones: spacing.stones,
        gapsMm: spacing.gapsMm,
        worstDeviationMm: spacing.worstDeviationMm,
        missing: spacing.missing,
        findings: markGate(spacing.findings, spacing.score, spacingGate),
        meanGapMm: spacing.meanGapMm,
        spreadMm: spacing.spreadMm,
        nominalGapMm: spacing.nominalGapMm,
        nominalGapSource: spacing.nominalGapSource,
        expectedCount: spacing.expectedCount,
        found: spacing.found,
        gate: spacingGate,
      },
      polish: {
        score: round(polishScore),
        verdict: polishVerdict,
        findings: polishKinds.flatMap((k) => k.findings),
        kindScores: Object.fromEntries(polishKinds.map((k) => [k.kind, round(k.score)])),
        kindGates: Object.fromEntries(polishKinds.map((k) => [k.kind, k.gate])),
        kindScoresAt: Object.fromEntries(polishKinds.map((k) => [k.kind, k.scoreAt])),
        mask: polishMask
          ? compactMask(polishMask.mask, polishMask.set.maps.width, polishMask.set.maps.height, polishMask.set.scale.scaleToPhoto)
          : null,
        gate: { scoreThreshold: polishGateThreshold, source: polishKinds[0]!.gate.source },
      },
    },
    models: [...modelsUsed.values()].map((m) => ({
      id: m.id,
      version: m.version,
      sha256: m.manifest.sha256,
      ...(m.manifest.verifier ? { verifierSha256: m.manifest.verifier.sha256 } : {}),
    })),
    profile: { name: profile.name, version: profile.version },
    timingsMs: {
      decode: round(tDecode - tStart, 1),
      quality: round(tQuality - tDecode, 1),
      preprocess: round(timings.preprocessMs, 1),
      inference: round(timings.inferenceMs, 1),
      postprocess: round(tPost - tInfer - (timings.preprocessMs + timings.inferenceMs - modelStagesAtInfer), 1),
      total: round(performance.now() - tStart, 1),
    },
  };
}
