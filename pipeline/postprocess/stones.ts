import type { DecodedRgb } from '../decode.js';
import type { ModelManifest } from '../model-manifest.schema.js';
import { orderRow } from './spacing.js';
import { crownTexture, luminance, measureRow, measureStones, refineCentre } from './stone-edges.js';
import { median } from './median.js';

type StoneOperatingPoint = NonNullable<ModelManifest['operatingPoints']['stones']>;

/** A detected stone at working scale: centre, radius (working pixels), peak heat. */
export interface DetectedStone {
  x: number;
  y: number;
  r: number;
  confidence: number;
}

/**
 * Stones from the centre heat-map and the radius plane, then (given the working-scale photo) from the photo:
 *   peaks  = local maxima (3x3) at or above `peakThreshold`;
 *   NMS    = strongest first, dropping peaks within `nmsRadiusFactor` x the stronger stone's radius; with the photo,
 *            a peak separated from the stronger one by a heat valley survives (the radius regression can overshoot
 *            the pitch of small stones) and the photo's non-overlap rule below settles it;
 *   centre = heat-weighted centroid of the upper half of the blob (heat above half the peak) within r/2 of the peak,
 *            which is sub-pixel and lands in the middle of a flat-topped plateau;
 *   radius = mean of the radius plane over the 3x3 around the peak.
 * With the photo (`stone-edges.ts`): the row's girdle radius, each stone's centre and radius, peaks overlapping a
 * stronger stone dropped, seats the row predicts checked for weakly detected stones; a stone whose outline the photo
 * does not support (no faceted crown ending at it, or a radius far from the model's) keeps the heat-map's centre, and
 * the radius plane's reading scaled to the row's girdle. Without the photo, for a lone stone, or when the photo supports
 * too few of the row's outlines (smooth-topped stones), the heat-map result is returned as is, exactly as without the
 * photo.
 */
export function detectStones(
  heat: Float32Array,
  radius: Float32Array,
  width: number,
  height: number,
  op: StoneOperatingPoint,
  image?: DecodedRgb,
): DetectedStone[] {
  const peaks: number[] = [];
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const v = heat[i]!;
      if (!(v >= op.peakThreshold)) continue;
      let isPeak = true;
      for (let dy = -1; dy <= 1 && isPeak; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if ((dx === 0 && dy === 0) || xx < 0 || xx >= width) continue;
          const n = heat[yy * width + xx]!;
          // Strict against neighbours already scanned, non-strict against later ones: one pixel per plateau row.
          const before = dy < 0 || (dy === 0 && dx < 0);
          if (before ? n >= v : n > v) {
            isPeak = false;
            break;
          }
        }
      }
      if (isPeak) peaks.push(i);
    }
  }
  peaks.sort((a, b) => heat[b]! - heat[a]!);

  const radiusAt = (px: number, py: number): number => {
    let sum = 0;
    let n = 0;
    for (let yy = Math.max(0, py - 1); yy <= Math.min(height - 1, py + 1); yy++) {
      for (let xx = Math.max(0, px - 1); xx <= Math.min(width - 1, px + 1); xx++) {
        sum += radius[yy * width + xx]!;
        n++;
      }
    }
    return Math.max(0, sum / n);
  };

  // Two peaks are one stone unless the heat between them dips below half the weaker one.
  const valleyBetween = (ax: number, ay: number, bx: number, by: number): boolean => {
    const level = Math.min(heatAt(ax, ay), heatAt(bx, by)) / 2;
    const steps = Math.ceil(Math.hypot(bx - ax, by - ay));
    for (let k = 1; k < steps; k++) {
      const t = k / steps;
      if (heatAt(ax + (bx - ax) * t, ay + (by - ay) * t) < level) return true;
    }
    return false;
  };
  const heatAt = (x: number, y: number): number => heat[Math.round(y) * width + Math.round(x)]!;

  // Without the photo, or when the photo does not support the outlines measured in it, the heat-map's own stones.
  const fromHeat = (withValleys: boolean): DetectedStone[] => {
    const stones: DetectedStone[] = [];
    for (const i of peaks) {
      const px = i % width;
      const py = (i - px) / width;
      const r = radiusAt(px, py);
      const suppressed = stones.some((s) => Math.hypot(s.x - px, s.y - py) < op.nmsRadiusFactor * Math.max(s.r, r, 1) && !(withValleys && valleyBetween(s.x, s.y, px, py)));
      if (suppressed) continue;
      const peak = heat[i]!;
      const win = Math.max(1, Math.round(r / 2));
      let sw = 0;
      let sx = 0;
      let sy = 0;
      for (let yy = Math.max(0, py - win); yy <= Math.min(height - 1, py + win); yy++) {
        for (let xx = Math.max(0, px - win); xx <= Math.min(width - 1, px + win); xx++) {
          const w = heat[yy * width + xx]! - peak / 2;
          if (w <= 0) continue;
          sw += w;
          sx += w * xx;
          sy += w * yy;
        }
      }
      stones.push({ x: sw > 0 ? sx / sw : px, y: sw > 0 ? sy / sw : py, r, confidence: peak });
    }
    return stones;
  };
  if (image && image.width === width && image.height === height) {
    const candidates = fromHeat(true);
    const measured = candidates.length >= 2 ? measureInPhoto(luminance(image), width, height, candidates, heat, op) : null;
    if (measured) return measured;
  }
  return fromHeat(false);
}

/**
 * Stones of one row cannot overlap: once the photo gives the row's radius R, a peak whose centre lies within
 * OVERLAP x 2R of a stronger stone is a second peak on the same stone, or a prong or seat edge next to it. 0.75 keeps
 * an undersized stone beside a full one (centres >= ~1.65 R apart: the generator's deepest undersize is 0.65 R)
 * and drops what sits on a neighbour's girdle (~1 R).
 */
const OVERLAP = 0.75;
/**
 * Row completion: a seat the row's pitch predicts but the heat-map left under the operating point holds a stone when
 * a heat peak of at least 1/COMPLETE_HEAT_DIVISOR of the operating point sits there and the photo shows a faceted
 * crown: crown texture at least COMPLETE_TEXTURE_SHARE of the row's median. An empty seat shows the smooth cone of
 * its metal (a third of a stone's texture or less on the dev photos), so a missing stone stays missing.
 */
const COMPLETE_HEAT_DIVISOR = 5;
const COMPLETE_TEXTURE_SHARE = 0.6;

/** The row measured in the photo; null when the photo does not support it (`stone-edges.ts`: `measureRow`, `measureStones`). */
function measureInPhoto(lum: Float32Array, width: number, height: number, heatStones: DetectedStone[], heat: Float32Array, op: StoneOperatingPoint): DetectedStone[] | null {
  let kept = heatStones;
  let row = measureRow(lum, width, height, kept);
  for (let round = 0; round < 2 && row; round++) {
    const accepted = nonOverlapping(kept, OVERLAP * 2 * row.radius);
    if (accepted.length === kept.length || accepted.length < 2) break;
    // Measure again without the dropped peaks: they pulled the row's pitch (and so its search window) down.
    kept = accepted.map((i) => kept[i]!);
    row = measureRow(lum, width, height, kept);
  }
  if (!row) return null;
  kept = [...kept, ...completeRow(lum, width, height, heat, kept, row.radius, row.pitch, op)];
  const measured = measureStones(lum, width, height, kept, row);
  if (!measured.some((m) => m.measured)) return null;
  return kept.map((s, i) => ({ ...s, x: measured[i]!.x, y: measured[i]!.y, r: measured[i]!.r }));
}

/** Indices (ascending) of the stones kept when each, strongest first, must be `minDist` from those already kept. */
function nonOverlapping(stones: DetectedStone[], minDist: number): number[] {
  const order = stones.map((_, i) => i).sort((a, b) => stones[b]!.confidence - stones[a]!.confidence);
  const accepted: number[] = [];
  for (const i of order) {
    const s = stones[i]!;
    if (accepted.every((j) => Math.hypot(stones[j]!.x - s.x, stones[j]!.y - s.y) >= minDist)) accepted.push(i);
  }
  return accepted.sort((a, b) => a - b);
}

/** Seats the row predicts (whole pitches between two stones, one pitch beyond each end) that hold a stone. */
function completeRow(
  lum: Float32Array,
  width: number,
  height: number,
  heat: Float32Array,
  stones: DetectedStone[],
  r: number,
  pitch: number,
  op: StoneOperatingPoint,
): DetectedStone[] {
  const ordered = orderRow(stones.map((s) => ({ cx: s.x, cy: s.y, r: s.r, confidence: s.confidence }))).map((s) => ({ x: s.cx, y: s.cy }));
  const reference = median(stones.map((s) => crownTexture(lum, width, height, s.x, s.y, r)));
  const all: Array<{ x: number; y: number }> = [...ordered];
  const added: DetectedStone[] = [];
  const tryAt = (x: number, y: number): boolean => {
    if (x - r < 0 || y - r < 0 || x + r > width - 1 || y + r > height - 1) return false;
    // The strongest heat within a quarter pitch of the predicted seat.
    const reach = pitch / 4;
    let best = -1;
    let bx = x;
    let by = y;
    for (let yy = Math.max(0, Math.floor(y - reach)); yy <= Math.min(height - 1, Math.ceil(y + reach)); yy++) {
      for (let xx = Math.max(0, Math.floor(x - reach)); xx <= Math.min(width - 1, Math.ceil(x + reach)); xx++) {
        const v = heat[yy * width + xx]!;
        if (v > best && Math.hypot(xx - x, yy - y) <= reach) {
          best = v;
          bx = xx;
          by = yy;
        }
      }
    }
    if (!(best >= op.peakThreshold / COMPLETE_HEAT_DIVISOR)) return false;
    const c = refineCentre(lum, width, height, bx, by, r);
    if (all.some((o) => Math.hypot(o.x - c.x, o.y - c.y) < OVERLAP * 2 * r)) return false;
    if (!(crownTexture(lum, width, height, c.x, c.y, r) >= COMPLETE_TEXTURE_SHARE * reference)) return false;
    all.push(c);
    added.push({ x: c.x, y: c.y, r, confidence: best });
    return true;
  };
  for (let i = 0; i + 1 < ordered.length; i++) {
    const a = ordered[i]!;
    const b = ordered[i + 1]!;
    const k = Math.round(Math.hypot(b.x - a.x, b.y - a.y) / pitch);
    for (let m = 1; m < k; m++) tryAt(a.x + ((b.x - a.x) * m) / k, a.y + ((b.y - a.y) * m) / k);
  }
  // Beyond each end, one pitch at a time along the end's direction, for as long as stones keep turning up.
  for (const [end, before] of [
    [ordered.length - 1, ordered.length - 2],
    [0, 1],
  ] as const) {
    let from = ordered[end]!;
    let prev = ordered[before]!;
    while (true) {
      const d = Math.hypot(from.x - prev.x, from.y - prev.y) || 1;
      const next = { x: from.x + ((from.x - prev.x) / d) * pitch, y: from.y + ((from.y - prev.y) / d) * pitch };
      if (!tryAt(next.x, next.y)) break;
      prev = from;
      from = all[all.length - 1]!;
    }
  }
  return added;
}
