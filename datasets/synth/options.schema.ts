import { z } from 'zod';
import { METALS, MetalSchema, PIECES, PieceSchema } from '../manifest.schema.js';

/** Field of view (image width) in mm that every training and test set so far was drawn from. */
export const DEFAULT_FOV_MM = [10, 30] as const;

/** The widest range of fields of view the generator accepts, in mm. */
export const FOV_MM_LIMITS = { min: 1, max: 200 } as const;

/** A field of view range `[low, high]` in mm, within `FOV_MM_LIMITS`. */
export const FovMmSchema = z
  .tuple([z.number().min(FOV_MM_LIMITS.min), z.number().max(FOV_MM_LIMITS.max)])
  .refine(([lo, hi]) => lo <= hi, 'the field of view range must be low-high');

export const BACKGROUNDS = ['paper', 'grey_card', 'velvet', 'lightbox', 'tinted_card'] as const;
export const BackgroundSchema = z.enum(BACKGROUNDS);
export type Background = z.infer<typeof BackgroundSchema>;

export const VIEWS = ['top', 'oblique'] as const;
export const ViewSchema = z.enum(VIEWS);
export type View = z.infer<typeof ViewSchema>;

export const SETTINGS = ['channel', 'pave', 'eternity'] as const;
export const SettingSchema = z.enum(SETTINGS);
export type Setting = z.infer<typeof SettingSchema>;

/**
 * The domain an image is drawn from. Held-out ("shifted") evaluations restrict or exclude metals, pieces and
 * backgrounds, so these lists travel into every manifest entry's `render.domain`.
 */
export const DomainSchema = z.object({
  metals: z.array(MetalSchema).min(1).default([...METALS]),
  pieces: z.array(PieceSchema).min(1).default([...PIECES]),
  backgrounds: z.array(BackgroundSchema).min(1).default([...BACKGROUNDS]),
  views: z.array(ViewSchema).min(1).default([...VIEWS]),
  /**
   * The field of view's width range in mm, drawn log-uniform. The default 10-30 mm frames every piece with backdrop
   * around it at its wide end and fills the frame with a large one at its narrow end; a narrower range (a macro
   * close-up, 5-10 mm) is a shift of framing and scale that training never saw.
   */
  fovMm: FovMmSchema.default([...DEFAULT_FOV_MM]),
});
export type Domain = z.infer<typeof DomainSchema>;

export const RenderOptionsSchema = z.object({
  seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  index: z.number().int().nonnegative(),
  /** Long side in pixels. The field of view is drawn in mm, so a larger size means a finer mm/px, same scene. */
  size: z.number().int().min(128).max(8192).default(1024),
  domain: DomainSchema.default(DomainSchema.parse({})),
  /** Replace the random kind plan by a fixed cycle that covers every defect kind (for the committed samples). */
  coverKinds: z.boolean().default(false),
  /** Debug: render the identical scene without stones (tests compare against it). */
  omitStones: z.boolean().default(false),
  /**
   * Render the identical scene without its pores and polish defects (everything else, noise included, comes from the
   * same random streams): `datasets/synth/visibility.ts` compares a photo with this twin to see what a defect changed.
   */
  omitDefects: z.boolean().default(false),
});
export type RenderOptions = z.infer<typeof RenderOptionsSchema>;
export type RenderOptionsInput = z.input<typeof RenderOptionsSchema>;
