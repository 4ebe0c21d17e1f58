import { z } from 'zod';
import { MetalSchema } from '../datasets/manifest.schema.js';
import { ModelUsedSchema, VerdictSchema, type Verdict } from '../pipeline/report.schema.js';

/**
 * What a station sends with its photos (DESIGN.md "Upload metadata"), and the states an inspection goes through.
 * Identifiers are restricted to a safe alphabet: they end up in URLs, logs, file names of exports and SQL filters.
 */

const IdSchema = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits and . _ : - only, starting with a letter or digit');
const NameSchema = z.string().trim().min(1).max(128);

export const ViewNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a lowercase view name such as "top" or "oblique"')
  .describe('Which side of the piece the photo shows; the profile lists the views a piece needs.');

export const ViewInputSchema = z
  .object({
    view: ViewNameSchema,
    mmPerPx: z
      .number()
      .positive()
      .max(1)
      .optional()
      .describe("Scale of this photo in mm per pixel; absent: the station's calibration, else the profile default."),
  })
  .strict();

export const UploadMetadataSchema = z
  .object({
    pieceId: IdSchema.describe('The piece (job bag / serial). Every inspection of a piece is linked under it.'),
    profile: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, 'a profile name such as "ring"')
      .describe('Product profile: tolerances and required views (see LOUPE_PROFILES).'),
    sku: IdSchema.optional().describe('Catalogue SKU of the design.'),
    metal: MetalSchema.describe('Alloy, from the fixed list.'),
    casting: z
      .object({
        tree: IdSchema.describe('Casting batch (tree).'),
        flask: IdSchema.optional(),
        caster: NameSchema.optional(),
        castDate: z.iso.date().optional().describe('YYYY-MM-DD'),
      })
      .strict()
      .optional(),
    finishing: z.object({ setter: NameSchema.optional(), polisher: NameSchema.optional() }).strict().optional(),
    stationId: IdSchema.describe('The QC station that took the photos.'),
    views: z
      .array(ViewInputSchema)
      .min(1)
      .describe('One entry per photo, in the order the photo parts are sent.')
      .refine((views) => new Set(views.map((v) => v.view)).size === views.length, 'each view may appear only once'),
    expectedStones: z.number().int().min(0).max(1000).optional().describe('Stones the design has, where it has stones.'),
  })
  .strict();
export type UploadMetadata = z.infer<typeof UploadMetadataSchema>;

export const INSPECTION_STATUSES = ['queued', 'processing', 'done', 'failed'] as const;
export const InspectionStatusSchema = z.enum(INSPECTION_STATUSES);
export type InspectionStatus = z.infer<typeof InspectionStatusSchema>;

export { VerdictSchema, type Verdict };

/**
 * How bad a verdict is when views are combined into one piece verdict: a failed view fails the piece; a photo that
 * must be retaken blocks any verdict but the defects seen so far; `review` needs a person.
 */
const SEVERITY: Record<Verdict, number> = { pass: 0, review: 1, retake: 2, fail: 3 };

export function worstVerdict(verdicts: readonly Verdict[]): Verdict | null {
  let worst: Verdict | null = null;
  for (const v of verdicts) if (worst === null || SEVERITY[v] > SEVERITY[worst]) worst = v;
  return worst;
}

/** Piece-level result over its views, stored on the inspection row. */
export const PieceSummarySchema = z.object({
  verdict: VerdictSchema,
  /** Why the piece got its verdict, for people: "oblique: porosity fail", "missing required view: oblique". */
  reasons: z.array(z.string()),
  missingViews: z.array(z.string()),
  profile: z.object({ name: z.string(), version: z.string() }),
  models: z.array(ModelUsedSchema),
  /** Milliseconds per pipeline stage summed over views, plus the handler's own I/O and database time. */
  timingsMs: z.record(z.string(), z.number()),
});
export type PieceSummary = z.infer<typeof PieceSummarySchema>;
