import type { DecodedRgb } from './decode.js';
import type { ModelManifest } from './model-manifest.schema.js';

/** Size of the image a model sees, and how one of its pixels maps back to the photo. */
export interface WorkingScale {
  width: number;
  height: number;
  /** Photo pixels per working pixel (>= 1: the pipeline only ever downsamples). */
  scaleToPhoto: number;
  mmPerPx: number;
}

/**
 * Resample so one pixel covers `workingMmPerPx` mm, but only downsample: upsampling invents no detail and multiplies
 * the inference cost. `null` (a model trained at native resolution) keeps native pixels.
 */
export function workingScale(photo: { width: number; height: number }, mmPerPx: number, workingMmPerPx: number | null): WorkingScale {
  const factor = workingMmPerPx === null ? 1 : mmPerPx / workingMmPerPx;
  if (factor >= 1) return { width: photo.width, height: photo.height, scaleToPhoto: 1, mmPerPx };
  const width = Math.max(1, Math.round(photo.width * factor));
  const height = Math.max(1, Math.round(photo.height * factor));
  // Rounding makes the two axes' factors differ by under half a pixel over the photo; the mean is exact enough.
  const scaleToPhoto = (photo.width / width + photo.height / height) / 2;
  return { width, height, scaleToPhoto, mmPerPx: mmPerPx * scaleToPhoto };
}

/** Where tiles start along one axis, and which span of the axis each tile owns when stitching. */
export interface AxisPlan {
  /** Tile extent fed to the network along this axis (a multiple of `sizeMultiple`). */
  size: number;
  starts: number[];
  /** Tile i writes [ownFrom[i], ownTo[i]) of the axis: the part nearest its centre. */
  ownFrom: number[];
  ownTo: number[];
}

export function planAxis(length: number, tile: number, overlap: number, multiple: number): AxisPlan {
  if (length <= tile) {
    // One tile, padded up to the network's stride.
    const size = Math.ceil(length / multiple) * multiple;
    return { size, starts: [0], ownFrom: [0], ownTo: [length] };
  }
  // As many tiles as the longest allowed one needs, each only as long as that many need: a 2378 px axis is two tiles
  // of 1264 px, not two of 2048 (the second pulled back to the end, 1.7 x the axis's pixels through the network).
  const count = Math.ceil((length - overlap) / (tile - overlap));
  let size = Math.min(tile, Math.ceil((length + (count - 1) * overlap) / count / multiple) * multiple);
  const startsOf = (sz: number) => Array.from({ length: count }, (_, i) => Math.floor((i * (length - sz)) / (count - 1)));
  let starts = startsOf(size);
  // Rounding the starts down can take a pixel off an overlap; a longer tile gives it back.
  while (size < tile && starts.some((s, i) => i > 0 && starts[i - 1]! + size - s < overlap)) {
    size = Math.min(tile, size + multiple);
    starts = startsOf(size);
  }
  const ownFrom: number[] = [];
  const ownTo: number[] = [];
  for (let i = 0; i < starts.length; i++) {
    // Boundaries at the middle of each overlap: every pixel comes from the tile where it is farthest from an edge.
    ownFrom.push(i === 0 ? 0 : Math.floor((starts[i - 1]! + size + starts[i]!) / 2));
    ownTo.push(i === starts.length - 1 ? length : Math.floor((starts[i]! + size + starts[i + 1]!) / 2));
  }
  return { size, starts, ownFrom, ownTo };
}

export interface TilePlan {
  width: number;
  height: number;
  x: AxisPlan;
  y: AxisPlan;
  /** Tiles in row-major order as (column, row) indices into `x` and `y`. */
  tiles: Array<{ col: number; row: number }>;
}

export function planTiles(width: number, height: number, input: ModelManifest['input']): TilePlan {
  const x = planAxis(width, input.tile.size, input.tile.overlap, input.sizeMultiple);
  const y = planAxis(height, input.tile.size, input.tile.overlap, input.sizeMultiple);
  const tiles: TilePlan['tiles'] = [];
  for (let row = 0; row < y.starts.length; row++) for (let col = 0; col < x.starts.length; col++) tiles.push({ col, row });
  return { width, height, x, y, tiles };
}

/** value -> normalised float, one table per channel: `(v / scale - mean) / std` without a division per pixel. */
export function normalisationTables(norm: ModelManifest['input']['normalisation']): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / norm.scale - norm.mean[c]!) / norm.std[c]!;
    return lut;
  });
}

/**
 * Writes tiles `[first, first + count)` of the plan into `out` as NCHW float32, cut straight from the packed RGB
 * buffer. Beyond the image (only when the image is smaller than a tile) edge pixels are replicated, which the
 * networks see as flat metal rather than a black frame.
 */
export function fillBatch(rgb: DecodedRgb, plan: TilePlan, first: number, count: number, luts: Float32Array[], out: Float32Array): void {
  const tw = plan.x.size;
  const th = plan.y.size;
  const plane = tw * th;
  const [l0, l1, l2] = luts as [Float32Array, Float32Array, Float32Array];
  const src = rgb.data;
  for (let t = 0; t < count; t++) {
    const { col, row } = plan.tiles[first + t]!;
    const x0 = plan.x.starts[col]!;
    const y0 = plan.y.starts[row]!;
    const base = t * 3 * plane;
    const inside = x0 + tw <= rgb.width && y0 + th <= rgb.height;
    for (let y = 0; y < th; y++) {
      const sy = Math.min(y0 + y, rgb.height - 1);
      const dstRow = base + y * tw;
      if (inside) {
        // The common case: no clamping in the inner loop.
        let si = (sy * rgb.width + x0) * 3;
        for (let x = 0; x < tw; x++, si += 3) {
          const di = dstRow + x;
          out[di] = l0[src[si]!]!;
          out[di + plane] = l1[src[si + 1]!]!;
          out[di + 2 * plane] = l2[src[si + 2]!]!;
        }
        continue;
      }
      const srcRow = sy * rgb.width;
      for (let x = 0; x < tw; x++) {
        const sx = Math.min(x0 + x, rgb.width - 1);
        const si = (srcRow + sx) * 3;
        const di = dstRow + x;
        out[di] = l0[src[si]!]!;
        out[di + plane] = l1[src[si + 1]!]!;
        out[di + 2 * plane] = l2[src[si + 2]!]!;
      }
    }
  }
}
