import { z } from 'zod';

/**
 * `model.json`, written by `models/training/export.py` beside every `model.onnx`. Everything the pipeline needs to
 * feed the network and to read its outputs travels here, never as a literal in pipeline code.
 */

export const NormalisationSchema = z.object({
  /** Pixel values are divided by `scale` (255 for 8-bit) and then `(x - mean) / std` per channel, RGB order. */
  scale: z.number().positive(),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
});

export const ModelInputSchema = z.object({
  name: z.string().min(1),
  /** `[N, C, H, W]` with -1 for dynamic axes. */
  shape: z.tuple([z.number().int(), z.literal(3), z.number().int(), z.number().int()]),
  layout: z.literal('NCHW'),
  colorSpace: z.literal('srgb'),
  normalisation: NormalisationSchema,
  /** H and W fed to the network must be multiples of this (the encoder's total stride). */
  sizeMultiple: z.number().int().positive(),
  tile: z.object({ size: z.number().int().positive(), overlap: z.number().int().nonnegative() }),
  /**
   * Photos are resampled so that one input pixel covers this many mm before inference, so that the network sees
   * pores and stones at the physical scale it was trained on. `null`: fed at native resolution.
   */
  workingMmPerPx: z.number().positive().nullable(),
});

export const ModelOutputSchema = z.object({
  name: z.string().min(1),
  /** Channel names in order, e.g. `["porosity","scratch","haze","tool_mark","orange_peel"]`. */
  channels: z.array(z.string().min(1)).min(1),
  /** `sigmoid`: values are probabilities in [0,1]; `linear`: raw regression values (units in `meaning`). */
  activation: z.enum(['sigmoid', 'linear', 'mixed']),
  /** Output pixel = input pixel × stride. */
  stride: z.number().int().positive(),
  meaning: z.string().min(1),
});

export const OperatingPointSchema = z.object({
  /** Probability above which a pixel belongs to a region. */
  pixelThreshold: z.number().min(0).max(1),
  /** Regions smaller than this many working pixels are dropped as noise. */
  minAreaPx: z.number().nonnegative(),
  /** Image-level score above which the family is flagged when the profile sets no score threshold. */
  imageThreshold: z.number().min(0).max(1),
  /**
   * False when no validation photo had pixel labels for this channel (a workshop's photos labelled per image): the
   * pixel threshold is the base model's, the regions only show where the model looks, and a score at the gate is never
   * passed on the regions' sizes. Absent: calibrated.
   */
  pixelCalibrated: z.boolean().optional(),
});

export const StoneOperatingPointSchema = z.object({
  /** Heat-map peak above which a stone is accepted. */
  peakThreshold: z.number().min(0).max(1),
  /** Peaks closer than this fraction of the predicted radius are suppressed (NMS). */
  nmsRadiusFactor: z.number().positive(),
});

/**
 * The polish kinds' scores put on one scale before the family's score takes their maximum (`loupe calibrate-gates
 * --polish-calibration`): per kind, a logistic map of the score's logit fitted on validation photos holding the kind
 * against polish-clean ones, the two classes weighted equally. The four kinds' raw scores are not comparable (on
 * loupe-seg 1.14.1's validation, polish-clean photos' median haze score was 0.43 and orange peel's 0.10), so the
 * noisiest kind decided the family's ranking. Kind scores and gates are left as they are.
 */
export const PolishCalibrationSchema = z.object({
  method: z.literal('balanced-platt'),
  /** Logits are clipped to +-`logitClip` before the map (scores of exactly 0 or 1 happen). */
  logitClip: z.number().positive(),
  kinds: z.record(
    z.string(),
    z.object({ slope: z.number(), intercept: z.number(), positives: z.number().int().positive(), negatives: z.number().int().positive() }),
  ),
  calibratedOn: z.array(z.string()),
});

/**
 * Image gates for photos the pipeline shrinks by at least `minScaleToPhoto` to reach the working scale (a 12 MP camera
 * photo: ~3x), set by `loupe calibrate-gates --downsampled` on validation photos of that kind. Scores on such photos are
 * distributed differently from those on photos near the working scale (the networks were trained on 1024 px photos,
 * used at their native pixels): at the main gates, loupe-seg 1.15.0 flagged 4 of 30 judged clean 12 MP dev photos for
 * a defect against 7 of 189 at 1024 px. Channels not listed here keep their main `imageThreshold`.
 */
export const DownsampledGatesSchema = z
  .object({
    minScaleToPhoto: z.number().min(1),
    porosity: z.number().min(0).max(1).optional(),
    polish: z.record(z.string(), z.number().min(0).max(1)).optional(),
    method: z.string().min(1),
    calibratedOn: z.array(z.string()),
  })
  .passthrough();

/** A network a version carries beside its seg model (the verifier, the stone refiner): the file the registry checks. */
const NETWORK_FILE = {
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().positive(),
};

/**
 * The polish verifier (`models/training/train_verifier.py`): a small second network that looks again, at full working
 * resolution and in context, at the few places the seg model's polish maps point to, and gives each a probability per
 * polish kind. A kind's image score is then the largest of those (see `pipeline/verify.ts`). It ships inside the seg
 * model's version because it is trained on that model's candidates: behind another seg model it would be invalid.
 */
export const VerifierSchema = z
  .object({
    ...NETWORK_FILE,
    /**
     * Input name: `[N, 6, patchPx, patchPx]`, the centre patch then the context patch, each normalised as `input`;
     * `[N, 9, ...]` with the wide view after them when `wideFactor` is set.
     */
    input: z.string().min(1),
    /** Output name: `[N, kinds.length]` sigmoid probabilities. */
    output: z.string().min(1),
    kinds: z.array(z.string().min(1)).min(1),
    patchPx: z.number().int().positive(),
    /** The context patch covers `patchPx * contextFactor` px around the candidate, box-averaged down to `patchPx`. */
    contextFactor: z.number().int().positive(),
    /**
     * The wide view (loupe-seg 1.5.0 on): the photo box-averaged over a fixed grid of `wideFactor`-px blocks from
     * (0, 0), `patchPx` blocks of it around the candidate's block. Absent: the verifier reads six channels.
     */
    wideFactor: z.number().int().positive().optional(),
    /**
     * Test-time augmentation (loupe-seg 1.4.1 on): each candidate's patches are also scored mirrored left-right (2),
     * and up-down and both (4), and the probabilities averaged. The image gates are set with it. Absent: 1.
     */
    tta: z.union([z.literal(1), z.literal(2), z.literal(4)]).optional(),
    candidates: z.object({
      /** Per kind: the strongest on-piece pixel of every `cell` x `cell` cell of its seg map... */
      cell: z.number().int().positive(),
      /** ...strongest first, kept when at least this far from every candidate already kept for the kind... */
      minDistPx: z.number().nonnegative(),
      /** ...and at least `floor`, at most `perKind` of them. */
      perKind: z.number().int().positive(),
      floor: z.number().min(0).max(1),
      /** Plus on-piece points of a grid this many px apart (0: none), for patches the seg maps rank poorly. */
      gridPx: z.number().int().nonnegative().default(0),
    }),
  })
  .passthrough();

/**
 * The stone refiner (loupe-seg 1.14.0 on): from a crop around each stone as the photo measurement placed it, the way to
 * its true centre and radius (`pipeline/stone-refine.ts`, trained by `models/training/train_stone_refiner.py`). It
 * reads the photo, not the seg model's planes, but ships in the version whose stone measurement it was validated behind.
 */
export const StoneRefinerSchema = z.object({
  ...NETWORK_FILE,
  /** Input name: `[N, 3, cropPx, cropPx]`, each crop's channels less their means, over one spread (see the module). */
  input: z.string().min(1),
  /** Output name: `[N, 3]`: centre offset x, y and log radius ratio, in the estimated radius. */
  output: z.string().min(1),
  cropPx: z.number().int().positive(),
  /** The crop's side in estimated radii. */
  cropSide: z.number().positive(),
  /** Bilinear sub-samples per crop pixel and axis, averaged. */
  supersample: z.number().int().positive(),
  iterations: z.number().int().positive(),
  /** A step moving the centre farther than this many radii, or scaling the radius outside `radiusRange`, ends the
   * stone's refinement where it stands. */
  maxShift: z.number().positive(),
  radiusRange: z.tuple([z.number().positive(), z.number().positive()]),
}).passthrough();

export const ModelManifestSchema = z.object({
  schemaVersion: z.literal(1),
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  version: z.string().regex(/^[0-9A-Za-z.+-]+$/),
  createdAt: z.string(),
  file: z.string().default('model.onnx'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().positive(),
  opset: z.number().int(),
  input: ModelInputSchema,
  outputs: z.array(ModelOutputSchema).min(1),
  /** Defect classes by family, e.g. `{ porosity: ["porosity"], polish: ["scratch", ...], stones: ["stone"] }`. */
  classes: z.record(z.string(), z.array(z.string())),
  operatingPoints: z.object({
    porosity: OperatingPointSchema.optional(),
    polish: z.record(z.string(), OperatingPointSchema).optional(),
    stones: StoneOperatingPointSchema.optional(),
    polishCalibration: PolishCalibrationSchema.optional(),
    downsampledGates: DownsampledGatesSchema.optional(),
    method: z.string().min(1),
    calibratedOn: z.string().min(1),
    /** Image gates re-set through the pipeline (`loupe calibrate-gates`): at a bounded false-positive rate, or for
     * balanced accuracy (`objective`, absent on versions calibrated before it existed: `fpr`). */
    imageGates: z
      .object({
        method: z.string().min(1),
        objective: z.enum(['fpr', 'balanced']).optional(),
        maxFpr: z.number().min(0).max(1).optional(),
        calibratedOn: z.array(z.string()),
        stats: z.record(z.string(), z.object({ threshold: z.number(), falsePositiveRate: z.number(), recall: z.number().nullable() }).passthrough()),
      })
      .passthrough()
      .optional(),
  }),
  training: z
    .object({
      data: z.array(z.unknown()),
      seeds: z.record(z.string(), z.number()),
    })
    .passthrough(),
  metrics: z.record(z.string(), z.unknown()),
  verifier: VerifierSchema.optional(),
  stoneRefiner: StoneRefinerSchema.optional(),
});
export type Verifier = z.infer<typeof VerifierSchema>;
export type StoneRefiner = z.infer<typeof StoneRefinerSchema>;
export type ModelManifest = z.infer<typeof ModelManifestSchema>;
export type ModelOutput = z.infer<typeof ModelOutputSchema>;
export type OperatingPoint = z.infer<typeof OperatingPointSchema>;
export type PolishCalibration = z.infer<typeof PolishCalibrationSchema>;
export type DownsampledGates = z.infer<typeof DownsampledGatesSchema>;
