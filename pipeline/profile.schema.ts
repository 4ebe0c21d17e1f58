import { z } from 'zod';

/**
 * Product profiles: every tolerance (in mm) and every photo/decoding limit the pipeline decides with. Models supply
 * calibrated operating points (`model.json`); the profile supplies what the workshop accepts. A profile's version is
 * the hash of its content (see `profiles.ts`) and is recorded in every report.
 */

const mm = z.number().nonnegative();
const fraction = z.number().min(0).max(1);

export const DecodeLimitsSchema = z.object({
  /** Refuse photos whose header declares more pixels than this (decompression bombs), before decoding. */
  maxInputPixels: z.number().int().positive(),
  /** Below this side nothing can be measured: a typed `image_too_small` error rather than a retake. */
  minInputSide: z.number().int().positive(),
  /** libvips is stopped after this long; a pathological file must not hold a worker. */
  timeoutSeconds: z.number().int().positive(),
});

export const QualityLimitsSchema = z.object({
  /** The gate works on a grey copy downscaled to this long side (cost independent of the camera). */
  analysisMaxSide: z.number().int().positive(),
  /** Smaller photos are a retake: too few pixels per mm for the tolerances to be meaningful. */
  minImageSide: z.number().int().positive(),
  /** Crete-Roffet blur at the analysis scale (0 sharp .. 1 flat); above it the photo is a retake. */
  maxBlur: fraction,
  /** Mean luma of the piece (or of the frame when no piece is found), in [0,1]. */
  minMeanLuma: fraction,
  maxMeanLuma: fraction,
  /** Luma at or above `clipHighLuma` (or at or below `clipLowLuma`) counts as clipped. */
  clipHighLuma: fraction,
  clipLowLuma: fraction,
  /** Largest share of the piece's pixels that may be clipped (blown highlights hide pores and scratches). */
  maxClippedFraction: fraction,
  /** The border strip (this share of each side) is taken as background when modelling its colour. */
  borderFraction: z.number().positive().max(0.25),
  /** A pixel is "piece" when its luma differs from the border's most common luma by more than this (or 3 noise sigmas). */
  pieceContrast: fraction,
  /** Fewer piece pixels than this share of the frame: nothing to inspect in the photo. */
  minPieceFraction: fraction,
});

export const PorosityToleranceSchema = z.object({
  /** A pore of at least this equivalent diameter makes the piece `review`. */
  reviewDiameterMm: mm,
  /** A pore of at least this equivalent diameter makes it `fail`. */
  failDiameterMm: mm,
  /** This many pores of at least `countMinDiameterMm` make it `fail` whatever their size. */
  failCount: z.number().int().positive(),
  countMinDiameterMm: mm,
  /** Kind rule, applied in order (see `postprocess/porosity.ts`). */
  kinds: z.object({
    /** Pores whose centres lie within this many (mean) diameters of each other link into a group... */
    clusterLinkDiameters: z.number().positive(),
    /** ...and a group of at least this many pores is a `cluster`. */
    clusterMinCount: z.number().int().min(2),
    /** An isolated pore below this diameter is a `pinhole`. */
    pinholeMaxDiameterMm: mm,
    /** A larger pore at least this elongated (major/minor axis) is a `shrinkage_pit`, else a `gas_void`. */
    shrinkageMinElongation: z.number().min(1),
  }),
});

export const SpacingToleranceSchema = z.object({
  /** Designed edge-to-edge gap; null: the median of the measured gaps. */
  nominalGapMm: mm.nullable(),
  /** |gap - nominal| at or above these makes the piece `review` / `fail`. */
  reviewDeviationMm: mm,
  failDeviationMm: mm,
  /** A stone whose radius is below this share of the row's median radius is `undersized_stone` (review). */
  undersizedRadiusRatio: fraction,
  /** Stones the design has; null: from the upload metadata, else inferred from the row's pitch. */
  expectedStones: z.number().int().nonnegative().nullable(),
});

const lengthTolerance = z.object({ reviewLengthMm: mm, failLengthMm: mm });
const areaTolerance = z.object({ reviewAreaMm2: mm, failAreaMm2: mm });

export const PolishToleranceSchema = z.object({
  scratch: lengthTolerance,
  tool_mark: lengthTolerance,
  haze: areaTolerance,
  orange_peel: areaTolerance,
});

export const ScoreThresholdsSchema = z.object({
  /** A family's score must reach this for any finding to count; overrides the model's `imageThreshold`. */
  porosity: fraction.optional(),
  stone_spacing: fraction.optional(),
  polish: fraction.optional(),
});

const deepPartialFamilies = z.object({
  porosity: PorosityToleranceSchema.extend({ kinds: PorosityToleranceSchema.shape.kinds.partial() }).partial().optional(),
  stone_spacing: SpacingToleranceSchema.partial().optional(),
  polish: z
    .object({
      scratch: lengthTolerance.partial().optional(),
      tool_mark: lengthTolerance.partial().optional(),
      haze: areaTolerance.partial().optional(),
      orange_peel: areaTolerance.partial().optional(),
    })
    .optional(),
});

/** Test-time augmentation modes (pipeline/tta.ts). */
export const TTA_MODES = ['none', 'dihedral8'] as const;
export type TtaMode = (typeof TTA_MODES)[number];

export const ProfileSchema = z
  .object({
    description: z.string().optional(),
    /** Scale used when the upload gives none (the report then says `mmPerPxSource: "default"`). */
    defaultMmPerPx: z.number().positive(),
    /** Views a piece needs before the service can give it a verdict (the piece is `review` without them). */
    requiredViews: z.array(z.string().min(1)),
    decode: DecodeLimitsSchema,
    quality: QualityLimitsSchema,
    porosity: PorosityToleranceSchema,
    stone_spacing: SpacingToleranceSchema,
    polish: PolishToleranceSchema,
    scoreThresholds: ScoreThresholdsSchema.default({}),
    /** `dihedral8`: the model runs on the photo in its eight turns and mirrors and the outputs are averaged (8x the
     * inference time: for small station photos, not 12 MP ones). `cropToPiece`: the models run on the piece's
     * bounding box with a margin, not the backdrop around it (`pipeline/piece-crop.ts`); off, on the whole frame. */
    inference: z
      .object({ tta: z.enum(TTA_MODES).default('none'), cropToPiece: z.boolean().default(true) })
      .strict()
      .default({ tta: 'none', cropToPiece: true }),
    /** Tolerances that differ per metal (keys are the upload's metal ids), merged over the profile's own. */
    metals: z.record(z.string(), deepPartialFamilies).default({}),
  })
  .strict();

export const ProfilesFileSchema = z
  .object({
    schemaVersion: z.literal(1),
    profiles: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), ProfileSchema),
  })
  .strict();

export type ProfileSpec = z.infer<typeof ProfileSchema>;
export type ProfilesFile = z.infer<typeof ProfilesFileSchema>;
export type PorosityTolerance = z.infer<typeof PorosityToleranceSchema>;
export type SpacingTolerance = z.infer<typeof SpacingToleranceSchema>;
export type PolishTolerance = z.infer<typeof PolishToleranceSchema>;
export type QualityLimits = z.infer<typeof QualityLimitsSchema>;
export type DecodeLimits = z.infer<typeof DecodeLimitsSchema>;

/** A validated profile with its name and content-hash version, as `inspect()` takes it. */
export const ResolvedProfileSchema = ProfileSchema.extend({
  name: z.string().min(1),
  version: z.string().regex(/^[0-9a-f]{12}$/),
});
export type Profile = z.infer<typeof ResolvedProfileSchema>;
