import { POLISH_KINDS, type PolishKind } from './report.schema.js';

/**
 * The pipeline finds its inputs by channel NAME (from `model.json.outputs[].channels`), never by index, so a model
 * may order, split or add channels freely. Stone channels accept the names the training code has used.
 */
export const POROSITY_CHANNEL = 'porosity';
export const POLISH_CHANNELS: readonly PolishKind[] = POLISH_KINDS;
export const STONE_HEAT_CHANNELS = ['stone_heat', 'stone_centre', 'stone_center', 'stone'] as const;
export const STONE_RADIUS_CHANNELS = ['stone_radius', 'radius'] as const;
