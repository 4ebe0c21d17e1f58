import { z } from 'zod';
// One defect vocabulary for labels and reports: the pipeline owns it, the manifest re-exports it.
import { FAMILIES, POLISH_KINDS, POROSITY_KINDS, SPACING_KINDS } from '../pipeline/report.schema.js';

export { FAMILIES, POLISH_KINDS, POROSITY_KINDS, SPACING_KINDS };

/**
 * One line of `manifest.jsonl`. The keys shown in the datasets issue are a contract read by training, eval and the
 * review export: add keys freely, never rename these.
 */

export const METALS = ['au750_yellow', 'au750_rose', 'au750_white', 'ag925', 'pt950'] as const;
export const MetalSchema = z.enum(METALS);
export type Metal = z.infer<typeof MetalSchema>;

export const PIECES = ['ring_band', 'ring_shank', 'pendant'] as const;
export const PieceSchema = z.enum(PIECES);
export type Piece = z.infer<typeof PieceSchema>;

export const FamilySchema = z.enum(FAMILIES);
export type Family = z.infer<typeof FamilySchema>;

/** Real sets that only say "this casting is defective" use `casting_defect`. */
export const IMAGE_LEVEL_KINDS = ['casting_defect', 'blowhole'] as const;

export const PorosityKindSchema = z.enum(POROSITY_KINDS);
export const SpacingKindSchema = z.enum(SPACING_KINDS);
export const PolishKindSchema = z.enum(POLISH_KINDS);
export type PorosityKind = z.infer<typeof PorosityKindSchema>;
export type SpacingKind = z.infer<typeof SpacingKindSchema>;
export type PolishKind = z.infer<typeof PolishKindSchema>;

export const DefectKindSchema = z.enum([...POROSITY_KINDS, ...SPACING_KINDS, ...POLISH_KINDS, ...IMAGE_LEVEL_KINDS]);
export type DefectKind = z.infer<typeof DefectKindSchema>;

const KIND_FAMILY: Record<DefectKind, Family> = {
  pinhole: 'porosity',
  cluster: 'porosity',
  gas_void: 'porosity',
  shrinkage_pit: 'porosity',
  casting_defect: 'porosity',
  blowhole: 'porosity',
  gap_wide: 'stone_spacing',
  gap_narrow: 'stone_spacing',
  missing_stone: 'stone_spacing',
  undersized_stone: 'stone_spacing',
  scratch: 'polish',
  haze: 'polish',
  tool_mark: 'polish',
  orange_peel: 'polish',
};
export function familyOfKind(kind: DefectKind): Family {
  return KIND_FAMILY[kind];
}

/** `[x0, y0, x1, y1]` in pixels, end exclusive. */
export const BBoxSchema = z.tuple([z.number(), z.number(), z.number(), z.number()]);
export type BBox = z.infer<typeof BBoxSchema>;

export const DefectSchema = z
  .object({
    family: FamilySchema,
    kind: DefectKindSchema,
    bbox: BBoxSchema,
    /** A pore's equivalent diameter, a scratch's length, a patch's largest extent, a spacing defect's deviation from
     * nominal; null where the set has no scale. */
    sizeMm: z.number().nonnegative().nullable(),
    /** Pores of one cluster share a group id. */
    group: z.number().int().optional(),
    /** Stone index (in `stones`) or gap index a spacing defect refers to. */
    stoneIndex: z.number().int().optional(),
    gapIndex: z.number().int().optional(),
    /** Equivalent diameter in pixels, for sets without a scale (`sizeMm: null`). */
    sizePx: z.number().nonnegative().optional(),
    areaPx: z.number().int().nonnegative().optional(),
  })
  .passthrough();
export type Defect = z.infer<typeof DefectSchema>;

export const StoneSchema = z.object({ cx: z.number(), cy: z.number(), r: z.number().positive() }).passthrough();
export type Stone = z.infer<typeof StoneSchema>;

export const StoneRowSchema = z
  .object({
    expectedCount: z.number().int().positive(),
    nominalGapMm: z.number().nonnegative(),
    gapsMm: z.array(z.number()),
    missing: z.array(z.object({ cx: z.number(), cy: z.number() }).passthrough()),
  })
  .passthrough();
export type StoneRow = z.infer<typeof StoneRowSchema>;

export const LabelLevelSchema = z.enum(['pixel', 'image']);
export type LabelLevel = z.infer<typeof LabelLevelSchema>;

export const SPLITS = ['train', 'val', 'test'] as const;
export const SplitSchema = z.enum(SPLITS);
export type Split = z.infer<typeof SplitSchema>;

export const ManifestEntrySchema = z
  .object({
    schemaVersion: z.literal(1),
    file: z.string().min(1),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    mmPerPx: z.number().positive().nullable(),
    source: z.string().min(1),
    metal: MetalSchema.nullable(),
    piece: PieceSchema.nullable(),
    view: z.string().nullable(),
    labels: z.object({ porosity: z.boolean(), stone_spacing: z.boolean(), polish: z.boolean() }),
    masks: z.object({ porosity: z.string().nullable(), polish: z.string().nullable() }),
    /** Optional per-kind polish masks (same format), so a model can learn the kind, not only the family. */
    kindMasks: z.record(z.string(), z.string()).optional(),
    defects: z.array(DefectSchema),
    stones: z.array(StoneSchema),
    stoneRow: StoneRowSchema.nullable(),
    /** `image`: the set labels whole images only, so a true label may come with no defect entry and no mask (e.g.
     * casting-impeller). Absent means `pixel`: every true label is backed by a defect or a mask. */
    labelLevel: LabelLevelSchema.optional(),
    /** Where a real set's image came from, so a finding can be traced back to the original file. */
    origin: z.object({ class: z.string(), file: z.string() }).passthrough().optional(),
    /** The split an importer assigned this image to. */
    split: SplitSchema.optional(),
  })
  .passthrough();
export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;

export const MANIFEST_FILE = 'manifest.jsonl';
