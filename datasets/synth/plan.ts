import {
  POLISH_KINDS,
  POROSITY_KINDS,
  SPACING_KINDS,
  type Metal,
  type Piece,
  type PolishKind,
  type PorosityKind,
  type SpacingKind,
} from '../manifest.schema.js';
import type { Background, Domain, Setting, View } from './options.schema.js';
import { Rng } from './rng.js';

/**
 * What an image will contain, decided before any pixel is drawn, so the mix of kinds in a run can be checked
 * cheaply and the renderer only has to realise it.
 */
export interface ImagePlan {
  metal: Metal;
  piece: Piece;
  view: View;
  background: Background;
  /** null: a piece without stones. */
  setting: Setting | null;
  porosity: PorosityKind[];
  spacing: SpacingKind[];
  polish: PolishKind[];
}

/** About a third of the images are clean; the rest carry one or more families. */
const CLEAN_P = 1 / 3;
const FAMILY_P = { porosity: 0.5, polish: 0.5, spacing: 0.38 };
const STONES_P_WHEN_NO_SPACING = 0.45;

const SETTINGS_BY_PIECE: Record<Piece, readonly Setting[]> = {
  ring_band: ['channel', 'pave', 'eternity'],
  ring_shank: ['channel', 'pave', 'eternity'],
  pendant: ['pave', 'channel'],
};

export function planImage(seed: number, index: number, domain: Domain, coverKinds: boolean): ImagePlan {
  const rng = Rng.of(seed, index, 'plan');
  const base = {
    metal: rng.pick(domain.metals),
    piece: rng.pick(domain.pieces),
    view: rng.pick(domain.views),
    background: rng.pick(domain.backgrounds),
  };
  if (coverKinds) return coverPlan(index, base, domain, rng);

  let porosity: PorosityKind[] = [];
  let spacing: SpacingKind[] = [];
  let polish: PolishKind[] = [];
  if (!rng.chance(CLEAN_P)) {
    // Redraw until at least one family is present, keeping the marginal mix stable.
    for (let tries = 0; porosity.length + spacing.length + polish.length === 0 && tries < 50; tries++) {
      if (rng.chance(FAMILY_P.porosity)) porosity = pickKinds(rng, POROSITY_KINDS, 0.25);
      if (rng.chance(FAMILY_P.spacing)) spacing = pickKinds(rng, SPACING_KINDS, 0.15);
      if (rng.chance(FAMILY_P.polish)) polish = pickKinds(rng, POLISH_KINDS, 0.3);
    }
  }
  const wantsStones = spacing.length > 0 || rng.chance(STONES_P_WHEN_NO_SPACING);
  const setting = wantsStones ? rng.pick(SETTINGS_BY_PIECE[base.piece]) : null;
  return { ...base, setting, porosity, spacing, polish };
}

function pickKinds<K extends string>(rng: Rng, kinds: readonly K[], secondP: number): K[] {
  const first = rng.pick(kinds);
  if (!rng.chance(secondP)) return [first];
  const second = rng.pick(kinds.filter((k) => k !== first));
  return [first, second];
}

interface CoverEntry {
  porosity?: PorosityKind[];
  spacing?: SpacingKind[];
  polish?: PolishKind[];
  stones?: boolean;
  metal?: Metal;
  piece?: Piece;
}

/**
 * 24 entries: every kind alone (12), a few mixtures, then clean pieces in several metals, with and without stones.
 * Preferred metals/pieces are used only when the domain allows them.
 */
const COVER: CoverEntry[] = [
  { porosity: ['pinhole'], metal: 'au750_yellow', piece: 'ring_band' },
  { porosity: ['cluster'], metal: 'ag925', piece: 'pendant' },
  { porosity: ['gas_void'], metal: 'pt950', piece: 'ring_shank' },
  { porosity: ['shrinkage_pit'], metal: 'au750_rose', piece: 'ring_band' },
  { spacing: ['gap_wide'], metal: 'au750_white', piece: 'ring_band' },
  { spacing: ['gap_narrow'], metal: 'au750_yellow', piece: 'ring_shank' },
  { spacing: ['missing_stone'], metal: 'pt950', piece: 'ring_band' },
  { spacing: ['undersized_stone'], metal: 'au750_rose', piece: 'pendant' },
  { polish: ['scratch'], metal: 'au750_white', piece: 'ring_band' },
  { polish: ['haze'], metal: 'au750_yellow', piece: 'pendant' },
  { polish: ['tool_mark'], metal: 'ag925', piece: 'ring_shank' },
  { polish: ['orange_peel'], metal: 'au750_rose', piece: 'pendant' },
  { porosity: ['pinhole', 'cluster'], polish: ['scratch'], metal: 'ag925', piece: 'ring_band' },
  { porosity: ['gas_void'], spacing: ['gap_wide'], metal: 'au750_yellow', piece: 'ring_band' },
  { spacing: ['gap_narrow', 'undersized_stone'], metal: 'au750_white', piece: 'ring_shank' },
  { polish: ['scratch', 'haze'], porosity: ['shrinkage_pit'], metal: 'pt950', piece: 'pendant' },
  { polish: ['tool_mark', 'orange_peel'], metal: 'au750_yellow', piece: 'ring_shank' },
  { spacing: ['missing_stone'], polish: ['scratch'], metal: 'ag925', piece: 'pendant' },
  { stones: true, metal: 'au750_yellow', piece: 'ring_band' },
  { stones: false, metal: 'au750_white', piece: 'ring_band' },
  { stones: true, metal: 'pt950', piece: 'ring_shank' },
  { stones: false, metal: 'au750_rose', piece: 'pendant' },
  { stones: false, metal: 'ag925', piece: 'ring_shank' },
  { stones: true, metal: 'au750_rose', piece: 'pendant' },
];
export const COVER_PLAN_LENGTH = COVER.length;

function coverPlan(index: number, base: Omit<ImagePlan, 'setting' | 'porosity' | 'spacing' | 'polish'>, domain: Domain, rng: Rng): ImagePlan {
  const entry = COVER[index % COVER.length];
  const metal = entry.metal && domain.metals.includes(entry.metal) ? entry.metal : base.metal;
  const piece = entry.piece && domain.pieces.includes(entry.piece) ? entry.piece : base.piece;
  const spacing = entry.spacing ?? [];
  const stones = spacing.length > 0 || (entry.stones ?? rng.chance(0.4));
  return {
    ...base,
    metal,
    piece,
    setting: stones ? rng.pick(SETTINGS_BY_PIECE[piece]) : null,
    porosity: entry.porosity ?? [],
    spacing,
    polish: entry.polish ?? [],
  };
}
