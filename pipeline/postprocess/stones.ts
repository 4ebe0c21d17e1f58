import type { DecodedRgb } from '../decode.js';
import type { ModelManifest } from '../model-manifest.schema.js';
import { luminance, measureStoneRow } from './stone-edges.js';

type StoneOperatingPoint = NonNullable<ModelManifest['operatingPoints']['stones']>;

/** A detected stone at working scale: centre, radius (working pixels), peak heat. */
export interface DetectedStone {
  x: number;
  y: number;
  r: number;
  confidence: number;
}

/**
 * Stones from the centre heat-map and the radius plane:
 *   peaks = local maxima (3x3) at or above `peakThreshold`;
 *   NMS   = strongest first, dropping peaks within `nmsRadiusFactor` x the stronger stone's radius;
 *   centre = heat-weighted centroid of the upper half of the blob (heat above half the peak) within r/2 of the peak,
 *            which is sub-pixel and lands in the middle of a flat-topped plateau;
 *   radius = mean of the radius plane over the 3x3 around the peak.
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

  // Two peaks are one stone unless the heat between them dips below half the weaker one: NMS by radius alone merges
  // neighbours whenever the radius regression overshoots the pitch.
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

  const stones: DetectedStone[] = [];
  for (const i of peaks) {
    const px = i % width;
    const py = (i - px) / width;
    const r = radiusAt(px, py);
    const suppressed = stones.some((s) => Math.hypot(s.x - px, s.y - py) < op.nmsRadiusFactor * Math.max(s.r, r, 1) && !valleyBetween(s.x, s.y, px, py));
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
  if (image && image.width === width && image.height === height && stones.length >= 2) return measureInPhoto(luminance(image), width, height, stones);
  return stones;
}

/**
 * Stones of one row cannot overlap: once the photo gives the row's radius R, a peak whose centre lies within
 * OVERLAP x 2R of a stronger stone is a second peak on the same stone, or a prong or seat edge next to it. 0.75 keeps
 * an undersized stone beside a full one (centres >= ~1.65 R apart: the generator's deepest undersize is 0.65 R)
 * and drops what sits on a neighbour's girdle (~1 R).
 */
const OVERLAP = 0.75;

function measureInPhoto(lum: Float32Array, width: number, height: number, heatStones: DetectedStone[]): DetectedStone[] {
  let kept = heatStones;
  for (let round = 0; round < 2; round++) {
    const row = measureStoneRow(lum, width, height, kept);
    const measured = kept.map((s, i) => {
      const m = row.stones[i]!;
      return m.measured ? { ...s, x: m.x, y: m.y, r: m.r } : s;
    });
    if (row.radius === null) return measured;
    const minDist = OVERLAP * 2 * row.radius;
    const order = measured.map((_, i) => i).sort((a, b) => measured[b]!.confidence - measured[a]!.confidence);
    const accepted: number[] = [];
    for (const i of order) {
      const s = measured[i]!;
      if (accepted.every((j) => Math.hypot(measured[j]!.x - s.x, measured[j]!.y - s.y) >= minDist)) accepted.push(i);
    }
    if (accepted.length === measured.length || accepted.length < 2) return measured;
    // Measure again without the dropped peaks: they pulled the row's pitch (and so its search window) down.
    kept = accepted.sort((a, b) => a - b).map((i) => kept[i]!);
  }
  const row = measureStoneRow(lum, width, height, kept);
  return kept.map((s, i) => (row.stones[i]!.measured ? { ...s, x: row.stones[i]!.x, y: row.stones[i]!.y, r: row.stones[i]!.r } : s));
}
