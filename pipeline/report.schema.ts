import { z } from 'zod';

/**
 * The inspection report: what `inspect()` returns, what workers store and what the API serves. The keys of issue 4's
 * example are a contract (add keys freely, never rename). Coordinates are ORIGINAL photo pixels after EXIF rotation;
 * sizes are mm; masks are kept at working scale, run-length encoded, so an overlay can be rendered later from the
 * photo bytes and this report alone.
 */

export const REPORT_SCHEMA_VERSION = 1;

export const VERDICTS = ['pass', 'review', 'fail', 'retake'] as const;
export const VerdictSchema = z.enum(VERDICTS);
export type Verdict = z.infer<typeof VerdictSchema>;

/** A family is judged on what the photo shows; only the photo as a whole can be a `retake`. */
export const FamilyVerdictSchema = z.enum(['pass', 'review', 'fail']);
export type FamilyVerdict = z.infer<typeof FamilyVerdictSchema>;

export const FAMILIES = ['porosity', 'stone_spacing', 'polish'] as const;
export type FamilyName = (typeof FAMILIES)[number];

export const POROSITY_KINDS = ['pinhole', 'cluster', 'gas_void', 'shrinkage_pit'] as const;
export const SPACING_KINDS = ['gap_wide', 'gap_narrow', 'missing_stone', 'undersized_stone'] as const;
export const POLISH_KINDS = ['scratch', 'haze', 'tool_mark', 'orange_peel'] as const;
export const LENGTH_POLISH_KINDS = ['scratch', 'tool_mark'] as const;
export type PorosityKind = (typeof POROSITY_KINDS)[number];
export type SpacingKind = (typeof SPACING_KINDS)[number];
export type PolishKind = (typeof POLISH_KINDS)[number];

/** `[x0, y0, x1, y1]` in original photo pixels, end exclusive. */
export const BBoxSchema = z.tuple([z.number(), z.number(), z.number(), z.number()]);
export type BBox = z.infer<typeof BBoxSchema>;

const score = z.number().min(0).max(1);

/**
 * On every finding: true when its family's score (for polish, its kind's score) stayed below its gate, so the model
 * itself discounted it: it decided nothing, is left out of counts, overlays and trend reports, and is listed only so
 * an inspector can still add it as a missed defect. Absent from reports made before the flag existed; read those
 * through `withGateFlags` (`score.ts`), which derives it from the stored scores and gates.
 */
const belowGate = z.boolean().optional();

/**
 * A binary mask at `width` x `height` (working scale, or coarser when a large mask was halved to stay small), row
 * major, as alternating run lengths starting with a run of 0s: `[zeros, ones, zeros, ones, ...]`. The runs sum to
 * width x height. A mask pixel covers `scaleToPhoto` photo pixels along each axis.
 */
export const MaskRleSchema = z.object({
  width: z.number().int().nonnegative(),
  height: z.number().int().nonnegative(),
  scaleToPhoto: z.number().positive(),
  rle: z.array(z.number().int().nonnegative()),
});
export type MaskRle = z.infer<typeof MaskRleSchema>;

export const QUALITY_REASON_CODES = ['blurred', 'underexposed', 'overexposed', 'clipped', 'no_piece', 'low_resolution'] as const;
export const QualityReasonSchema = z.object({
  code: z.enum(QUALITY_REASON_CODES),
  message: z.string(),
  /** The measured value and the profile limit it broke, in the metric's own unit (see `quality.metrics`). */
  measured: z.number(),
  limit: z.number(),
});
export type QualityReason = z.infer<typeof QualityReasonSchema>;

export const QualityMetricsSchema = z.object({
  /** Crete-Roffet re-blur measure at the analysis scale: 0 = sharp, 1 = flat (see `quality.ts`). */
  blur: z.number(),
  /** Mean luma in [0,1] of the piece (the piece mask; where it fell back, the pixels unlike the border; else the frame). */
  meanLuma: z.number(),
  /** Share of the piece's pixels at or beyond the clip levels. */
  clippedHigh: z.number(),
  clippedLow: z.number(),
  /** Share of the frame that differs from the border colour. */
  pieceFraction: z.number(),
  analysisWidth: z.number().int(),
  analysisHeight: z.number().int(),
});
export type QualityMetrics = z.infer<typeof QualityMetricsSchema>;

export const PIECE_MASK_FALLBACKS = ['background_not_uniform', 'piece_is_backdrop', 'no_outline', 'low_contrast', 'no_piece', 'fills_frame'] as const;

/**
 * Where the piece was found (`pipeline/piece-mask.ts`): findings and family scores come from the piece only. `frame`
 * means the mask could not be trusted and the whole frame stood in, for the reason in `fallback`.
 */
export const PieceMaskSummarySchema = z.object({
  source: z.enum(['piece', 'frame']),
  fallback: z.enum(PIECE_MASK_FALLBACKS).nullable(),
  /** Share of the frame on the piece, as found (also when falling back). */
  coverage: z.number().min(0).max(1),
  /** Share of the border strip that matched the fitted backdrop. */
  borderInliers: z.number().min(0).max(1),
  /** Share of the mask's outline (its weakest part) that lies on an edge of the photo. */
  outlineOnEdges: z.number().min(0).max(1),
  /** The piece's median colour difference from the backdrop, in units of the piece threshold. */
  contrast: z.number().nonnegative(),
  /** Time to compute the mask, ms (part of `timingsMs.quality`). */
  ms: z.number().nonnegative(),
});
export type PieceMaskSummary = z.infer<typeof PieceMaskSummarySchema>;

export const PorosityFindingSchema = z.object({
  kind: z.enum(POROSITY_KINDS),
  bbox: BBoxSchema,
  diameterMm: z.number().nonnegative(),
  areaMm2: z.number().nonnegative(),
  confidence: score,
  /** Centre of mass, photo pixels. */
  cx: z.number(),
  cy: z.number(),
  /** Major / minor axis of the region (1 = round). */
  elongation: z.number().min(1),
  /** Pores of one cluster share a group id. */
  group: z.number().int().optional(),
  belowGate,
});
export type PorosityFinding = z.infer<typeof PorosityFindingSchema>;

export const StoneSchema = z.object({
  cx: z.number(),
  cy: z.number(),
  r: z.number().nonnegative(),
  confidence: score,
});
export type StoneOut = z.infer<typeof StoneSchema>;

export const SpacingFindingSchema = z.object({
  kind: z.enum(SPACING_KINDS),
  bbox: BBoxSchema,
  /** Gap i lies between stones i and i+1 (row order). */
  gapIndex: z.number().int().optional(),
  stoneIndex: z.number().int().optional(),
  gapMm: z.number().optional(),
  deviationMm: z.number().optional(),
  /** 0..1: the deviation relative to the fail tolerance (1 = at or beyond it). */
  severity: score,
  message: z.string(),
  belowGate,
});
export type SpacingFinding = z.infer<typeof SpacingFindingSchema>;

export const PolishFindingSchema = z.object({
  kind: z.enum(POLISH_KINDS),
  bbox: BBoxSchema,
  lengthMm: z.number().nonnegative().optional(),
  areaMm2: z.number().nonnegative().optional(),
  /** 0..1: size relative to the profile's fail tolerance for the kind (1 = at or beyond it). */
  severity: score,
  confidence: score,
  belowGate,
});
export type PolishFinding = z.infer<typeof PolishFindingSchema>;

/**
 * Where an image-level score was read, photo pixels: the verifier candidate or the evidence-plane pixel with the largest
 * value on the piece. Null when nothing there scored above 0. It points an inspector at what raised a flag even when no
 * region was outlined (a model trained on photos labelled per image only outlines nothing it was not shown).
 */
export const ScoreAtSchema = z.object({ cx: z.number(), cy: z.number() }).nullable();

/** The score a family had to reach for its findings to count, and who set it. */
export const GateSchema = z.object({ scoreThreshold: score, source: z.enum(['profile', 'model', 'none']) });

export const PorosityFamilySchema = z.object({
  score,
  verdict: FamilyVerdictSchema,
  findings: z.array(PorosityFindingSchema),
  /** The pores' pixels; null when none counted (reports made before `belowGate`: every pore's, counted or not). */
  mask: MaskRleSchema.nullable(),
  gate: GateSchema,
  /** Where `score` was read. Absent from reports made before it was recorded. */
  scoreAt: ScoreAtSchema.optional(),
});

export const StoneSpacingFamilySchema = z.object({
  score,
  verdict: FamilyVerdictSchema,
  /** Row order, photo pixels; `r` is the radius in photo pixels. */
  stones: z.array(StoneSchema),
  /** Edge-to-edge gaps between consecutive stones, mm; gap i is between stones i and i+1. */
  gapsMm: z.array(z.number()),
  /** Largest |gap - nominal| over gaps that do not span a missing stone; null with fewer than two stones. */
  worstDeviationMm: z.number().nullable(),
  /** Where missing stones should be, photo pixels. */
  missing: z.array(z.object({ cx: z.number(), cy: z.number() })),
  findings: z.array(SpacingFindingSchema),
  meanGapMm: z.number().nullable(),
  /** Standard deviation of the gaps (those not spanning a missing stone), mm. */
  spreadMm: z.number().nullable(),
  nominalGapMm: z.number().nullable(),
  nominalGapSource: z.enum(['profile', 'median', 'none']),
  expectedCount: z.number().int().nullable(),
  found: z.number().int().nonnegative(),
  gate: GateSchema,
});

export const PolishFamilySchema = z.object({
  /** The largest kind score, each kind first put on one scale when the model carries `polishCalibration`. */
  score,
  verdict: FamilyVerdictSchema,
  findings: z.array(PolishFindingSchema),
  /** Per kind: the score of that kind's map (its largest probability on the piece; see `pieceMask`). */
  kindScores: z.record(z.string(), score),
  /** Per kind: the gate its score had to reach. Absent from reports made before it was recorded. */
  kindGates: z.record(z.string(), GateSchema).optional(),
  /** Per kind: where its score was read. Absent from reports made before it was recorded. */
  kindScoresAt: z.record(z.string(), ScoreAtSchema).optional(),
  /** Pixels of the kinds that reached their gates (reports made before `belowGate`: of every kind). */
  mask: MaskRleSchema.nullable(),
  /** The lowest of the kinds' gates (see `kindGates` for each), on the family score's scale. */
  gate: GateSchema,
});

/**
 * A model a report was made with. Its verifier's sha256 too, when it has one: the verifier decides polish (and, from
 * loupe-seg 1.3, porosity) scores, so two versions with the same seg network can score a photo differently.
 */
export const ModelUsedSchema = z.object({
  id: z.string(),
  version: z.string(),
  sha256: z.string(),
  verifierSha256: z.string().optional(),
});
export type ModelUsed = z.infer<typeof ModelUsedSchema>;

export const InspectionReportSchema = z.object({
  schemaVersion: z.literal(REPORT_SCHEMA_VERSION),
  verdict: VerdictSchema,
  photo: z.object({
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    mmPerPx: z.number().positive(),
    mmPerPxSource: z.enum(['given', 'calibration', 'default']),
    format: z.string().optional(),
  }),
  view: z.string().nullable(),
  metal: z.string().nullable(),
  /** The resolution the models saw: one working pixel = `scaleToPhoto` photo pixels = `mmPerPx` mm. */
  working: z.object({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    mmPerPx: z.number().positive(),
    scaleToPhoto: z.number().positive(),
  }),
  quality: z.object({
    ok: z.boolean(),
    reasons: z.array(QualityReasonSchema),
    metrics: QualityMetricsSchema,
  }),
  /** Absent from reports made before the piece mask existed. */
  pieceMask: PieceMaskSummarySchema.optional(),
  families: z.object({
    porosity: PorosityFamilySchema,
    stone_spacing: StoneSpacingFamilySchema,
    polish: PolishFamilySchema,
  }),
  models: z.array(ModelUsedSchema),
  profile: z.object({ name: z.string(), version: z.string() }),
  timingsMs: z.object({
    decode: z.number(),
    /** Includes the piece mask (`pieceMask.ms`). */
    quality: z.number(),
    preprocess: z.number(),
    inference: z.number(),
    postprocess: z.number(),
    total: z.number(),
  }),
});
export type InspectionReport = z.infer<typeof InspectionReportSchema>;
export type PorosityFamily = z.infer<typeof PorosityFamilySchema>;
export type StoneSpacingFamily = z.infer<typeof StoneSpacingFamilySchema>;
export type PolishFamily = z.infer<typeof PolishFamilySchema>;
export type Gate = z.infer<typeof GateSchema>;

/** What the caller knows about the photo. `mmPerPx` absent: the profile's default scale, reported as `default`. */
export const InspectMetadataSchema = z.object({
  mmPerPx: z.number().positive().optional(),
  mmPerPxSource: z.enum(['given', 'calibration']).optional(),
  view: z.string().min(1).optional(),
  /** Stones the design has; overrides the profile's `expectedStones`. */
  expectedStones: z.number().int().nonnegative().optional(),
  /** The upload's metal id (the API validates it against the fixed list); selects the profile's metal overrides. */
  metal: z.string().min(1).optional(),
});
export type InspectMetadata = z.infer<typeof InspectMetadataSchema>;
