import { z } from 'zod';

/**
 * What an inspector decides (issue 8's review page and `POST /v1/inspections/:id/review` parse their input with
 * these; the trend reports read the same vocabulary back).
 */
export const FindingDecisionSchema = z.enum(['confirmed', 'rejected']);
export type FindingDecision = z.infer<typeof FindingDecisionSchema>;

export const DispositionSchema = z.enum(['accept', 'rework', 'scrap']);
export type Disposition = z.infer<typeof DispositionSchema>;

export const ReworkSchema = z.enum(['polish', 're-set', 'recast']);
export type Rework = z.infer<typeof ReworkSchema>;

export const DefectFamilySchema = z.enum(['porosity', 'stone_spacing', 'polish']);
export type DefectFamily = z.infer<typeof DefectFamilySchema>;

/** accept | rework:polish | rework:re-set | rework:recast | scrap: the one-word form pages and CSV use. */
export const DispositionInputSchema = z
  .object({
    disposition: DispositionSchema,
    rework: ReworkSchema.optional().describe('Required when the disposition is rework; absent otherwise.'),
    note: z.string().trim().max(2000).optional(),
  })
  .refine((d) => (d.disposition === 'rework') === (d.rework !== undefined), {
    message: 'rework (polish | re-set | recast) is required with disposition "rework" and only then',
    path: ['rework'],
  });
export type DispositionInput = z.infer<typeof DispositionInputSchema>;

export const AddedFindingInputSchema = z.object({
  viewN: z.number().int().min(0),
  family: DefectFamilySchema,
  kind: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/),
  bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]).refine(([x0, y0, x1, y1]) => x1 > x0 && y1 > y0, 'bbox is [x0, y0, x1, y1] with x1 > x0, y1 > y0'),
  sizeMm: z.number().positive().optional(),
  note: z.string().trim().max(2000).optional(),
});
export type AddedFindingInput = z.infer<typeof AddedFindingInputSchema>;
