import { z } from 'zod';
import type { ManifestEntry } from '../../datasets/manifest.schema.js';

/**
 * The few fields of a synthetic entry's `render` block the failure gallery groups by. `render` is a passthrough key
 * the generator owns (datasets/synth/render-sample.ts), so it is parsed here, leniently: a field that is absent or of
 * another shape reads as unknown, never as an error.
 */
const RenderInfoSchema = z.object({
  background: z.object({ type: z.string() }).partial().passthrough().optional().catch(undefined),
  piece: z.object({ finish: z.string() }).partial().passthrough().optional().catch(undefined),
  light: z.object({ keyElevationDeg: z.number(), keySizeRad: z.number() }).partial().passthrough().optional().catch(undefined),
  camera: z.object({ exposure: z.number() }).partial().passthrough().optional().catch(undefined),
});

export interface RenderInfo {
  background?: string;
  finish?: string;
  keyElevationDeg?: number;
  keySizeRad?: number;
  exposure?: number;
}

export function renderInfo(entry: ManifestEntry): RenderInfo | null {
  const raw = (entry as Record<string, unknown>).render;
  if (raw === undefined || raw === null) return null;
  const parsed = RenderInfoSchema.safeParse(raw);
  if (!parsed.success) return null;
  const r = parsed.data;
  return {
    ...(r.background?.type !== undefined ? { background: r.background.type } : {}),
    ...(r.piece?.finish !== undefined ? { finish: r.piece.finish } : {}),
    ...(r.light?.keyElevationDeg !== undefined ? { keyElevationDeg: r.light.keyElevationDeg } : {}),
    ...(r.light?.keySizeRad !== undefined ? { keySizeRad: r.light.keySizeRad } : {}),
    ...(r.camera?.exposure !== undefined ? { exposure: r.camera.exposure } : {}),
  };
}

interface Bin {
  label: string;
  below: number;
}
const binOf = (bins: Bin[], v: number | undefined) => (v === undefined ? null : (bins.find((b) => v < b.below)?.label ?? null));

/**
 * Lighting bins, fixed (not quantiles) so two runs' tables line up. The generator draws key elevation over about
 * 20-72 deg, the key light's angular size over 0.05-0.9 rad (small = hard light, crisp highlights) and exposure over
 * about 0.6-1.5.
 */
const ELEVATION_BINS: Bin[] = [
  { label: '< 35 deg', below: 35 },
  { label: '35-55 deg', below: 55 },
  { label: '>= 55 deg', below: Infinity },
];
const KEY_SIZE_BINS: Bin[] = [
  { label: 'hard (< 0.15 rad)', below: 0.15 },
  { label: 'medium (0.15-0.4 rad)', below: 0.4 },
  { label: 'soft (>= 0.4 rad)', below: Infinity },
];
const EXPOSURE_BINS: Bin[] = [
  { label: 'dark (< 0.9)', below: 0.9 },
  { label: 'normal (0.9-1.2)', below: 1.2 },
  { label: 'bright (>= 1.2)', below: Infinity },
];

/** The photo conditions the gallery breaks recall down by; a grouping whose value is null for every photo is skipped. */
export const CONDITIONS: Array<{ name: string; of: (entry: ManifestEntry, render: RenderInfo | null) => string | null; order?: string[] }> = [
  { name: 'metal', of: (e) => e.metal },
  { name: 'piece', of: (e) => e.piece },
  { name: 'view', of: (e) => e.view },
  { name: 'background', of: (_, r) => r?.background ?? null },
  { name: 'finish', of: (_, r) => r?.finish ?? null },
  { name: 'key light elevation', of: (_, r) => binOf(ELEVATION_BINS, r?.keyElevationDeg), order: ELEVATION_BINS.map((b) => b.label) },
  { name: 'key light size', of: (_, r) => binOf(KEY_SIZE_BINS, r?.keySizeRad), order: KEY_SIZE_BINS.map((b) => b.label) },
  { name: 'exposure', of: (_, r) => binOf(EXPOSURE_BINS, r?.exposure), order: EXPOSURE_BINS.map((b) => b.label) },
];

/** `background paper · finish polished · key light 49 deg elev., 0.26 rad · exposure 1.32`, or '' without render info. */
export function describeRender(r: RenderInfo | null): string {
  if (!r) return '';
  const parts: string[] = [];
  if (r.background) parts.push(`background ${r.background}`);
  if (r.finish) parts.push(`finish ${r.finish}`);
  if (r.keyElevationDeg !== undefined || r.keySizeRad !== undefined) {
    const el = r.keyElevationDeg !== undefined ? `${r.keyElevationDeg.toFixed(0)} deg elev.` : '';
    const size = r.keySizeRad !== undefined ? `${r.keySizeRad.toFixed(2)} rad` : '';
    parts.push(`key light ${[el, size].filter(Boolean).join(', ')}`);
  }
  if (r.exposure !== undefined) parts.push(`exposure ${r.exposure.toFixed(2)}`);
  return parts.join(' · ');
}
