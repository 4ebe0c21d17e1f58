import { z } from 'zod';

/** What `loupe eval` writes. The keys of the pipeline issue are a contract; the breakdowns are extra. */

const metric = z.number().nullable();

export const FamilyMetricsSchema = z.object({
  auroc: metric,
  ap: metric,
  precision: metric,
  recall: metric,
  f1: metric,
  /** (tp + tn) / images, flagged = verdict other than `pass` (as precision and recall count it). */
  accuracy: metric,
  positives: z.number().int(),
  negatives: z.number().int(),
});

export const PixelMetricsSchema = z.object({ auroc: metric, iou: metric, images: z.number().int() });

export const BinSchema = z.object({
  bin: z.string(),
  /** Ground-truth defects in the bin and how many a finding overlapped. */
  defects: z.number().int(),
  detected: z.number().int(),
  recall: metric,
});

export const VisibilityBinSchema = z.object({ bin: z.string(), images: z.number().int(), auroc: metric, caught: z.number().int() });

export const EvalResultSchema = z.object({
  schemaVersion: z.literal(1),
  data: z.string(),
  images: z.number().int(),
  model: z.object({ id: z.string(), version: z.string(), sha256: z.string() }),
  profile: z.object({ name: z.string(), version: z.string() }),
  families: z.object({ porosity: FamilyMetricsSchema, stone_spacing: FamilyMetricsSchema, polish: FamilyMetricsSchema }),
  pixel: z.object({ porosity: PixelMetricsSchema, polish: PixelMetricsSchema }),
  stones: z.object({
    precision: metric,
    recall: metric,
    f1: metric,
    gapMaeMm: metric,
    truth: z.number().int(),
    predicted: z.number().int(),
    matched: z.number().int(),
    /** True gaps the report states (both stones matched and side by side in its row order): what gapMaeMm averages. */
    gapPairs: z.number().int(),
    /** True gaps whose two stones were both matched, stated or not (a spurious stone between them hides the gap);
     * absent in older results, whose gapMaeMm also imputed the hidden ones from the matched stones' radii. */
    gapPairsMatched: z.number().int().optional(),
  }),
  /** Share of images with every label false that got any verdict other than `pass`. */
  cleanFalseFlagRate: metric,
  /** Of the clean photos the quality gate let through (not `retake`), the share any family flagged: the false alarms
   * on clean pieces proper, apart from photos sent back for a retake; absent in older results. */
  cleanDefectFlagRate: metric.optional(),
  /** Clean photos flagged, by the family whose verdict was not `pass` (or `retake`); absent in older results. */
  cleanFlaggedBy: z
    .object({ images: z.number().int(), porosity: z.number().int(), stone_spacing: z.number().int(), polish: z.number().int(), retake: z.number().int() })
    .optional(),
  retakes: z.number().int(),
  /** Retakes by quality-gate reason code (a photo can have several); absent in older results. */
  retakeReasons: z.record(z.string(), z.number().int()).optional(),
  /** Photos whose piece the mask found, and the others by why it fell back to the whole frame (`PieceMask.fallback`);
   * absent in older results. */
  pieceMask: z.object({ found: z.number().int(), fallbacks: z.record(z.string(), z.number().int()) }).optional(),
  byPoreSizeMm: z.array(BinSchema),
  byKind: z.record(z.string(), BinSchema),
  /**
   * Per polish kind, the image AUROC of that kind's score: photos holding the kind against photos with no polish
   * defect (photos with only other polish kinds left out); absent in older results.
   */
  polishKinds: z.record(z.string(), z.object({ auroc: metric, positives: z.number().int(), negatives: z.number().int() })).optional(),
  /**
   * Polish photos by how visible their defects are in the photo (`loupe eval --visibility`, synthetic sets only;
   * `datasets/synth/visibility.ts`): the family's rows bin each polish photo by its most visible polish defect, each
   * kind's rows bin the photos holding that kind by that kind's visibility. `auroc` ranks the bin's photos against every
   * polish-clean photo; `caught` counts those the family flagged as the metrics count it (a retake too; a kind: whose
   * score reached its gate).
   */
  polishVisibility: z
    .object({
      measure: z.string(),
      family: z.array(VisibilityBinSchema),
      kinds: z.record(z.string(), z.array(VisibilityBinSchema)),
    })
    .optional(),
  byMmPerPx: z.array(
    z.object({ bin: z.string(), images: z.number().int(), porosityAuroc: metric, polishAuroc: metric, spacingAuroc: metric }),
  ),
  // The spread per photo arrived in session 18; earlier runs' JSONs have the mean only.
  timing: z.object({ msPerImage: z.number(), totalS: z.number(), msMedian: z.number().optional(), msP90: z.number().optional(), msMax: z.number().optional() }),
  createdAt: z.string(),
});
export type EvalResult = z.infer<typeof EvalResultSchema>;
export type FamilyMetrics = z.infer<typeof FamilyMetricsSchema>;
